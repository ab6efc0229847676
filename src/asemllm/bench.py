"""Benchmarks that print JSON: the cost of saliency fusion in the vision encoder, and of the
captioner's decoding against the bare LM. Timings alternate between the two sides in one process
so that machine noise hits both alike; the median of the repeats is reported."""

from __future__ import annotations

import os
import platform
import statistics
import time


def machine(threads: int) -> dict:
    import torch

    return {"machine": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "threads": threads, "torch": torch.__version__}


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def alternate(a, b, repeats: int, warmup: int = 1) -> tuple[float, float, float]:
    """Run a() and b() in turn -> (median s of a, median s of b, median of the paired b/a ratios).

    The paired ratio is what the goals are about: a slow moment of the machine hits both runs
    of a pair, so it cancels there but not in the ratio of the two medians.
    """
    for _ in range(warmup):
        a(), b()
    ta, tb = [], []
    for _ in range(repeats):
        ta.append(_time(a))
        tb.append(_time(b))
    ratio = statistics.median(y / x for x, y in zip(ta, tb))
    return statistics.median(ta), statistics.median(tb), ratio


def bench_vision(batch: int = 8, repeats: int = 10, threads: int | None = None) -> dict:
    """Plain ViT vs IASM + IAS-ViT on the default offline backbones (dinov2-s, efficientnet-lite0)."""
    import torch

    from .build import build_vision
    from .config import ModelConfig
    from .model.iasm import saliency_tokens

    threads = _threads(threads)
    cfg = ModelConfig()
    iasm, vision = build_vision(cfg)
    iasm.eval(), vision.eval()
    images = torch.rand(batch, 3, cfg.vision.image_size, cfg.vision.image_size)

    def fused():
        vision(images, saliency_tokens(iasm(images).features, cfg.fusion.kv_grid))

    with torch.inference_mode():
        plain_s, fused_s, ratio = alternate(lambda: vision(images, None), fused, repeats)
        _, iasm_s, iasm_share = alternate(lambda: vision(images, None), lambda: iasm(images), repeats)
    return {"benchmark": "vision", "batch": batch, "image_size": cfg.vision.image_size,
            "iasm_image_size": cfg.iasm.image_size, "fusion_layers": list(cfg.fusion.layers),
            "vit_s": round(plain_s, 4), "ias_vit_iasm_s": round(fused_s, 4), "iasm_s": round(iasm_s, 4),
            "ratio": round(ratio, 3), "iasm_share_of_vit": round(iasm_share, 3),
            "goal_ratio_max": 1.15, **machine(threads)}


def bench_generate(new_tokens: int = 64, repeats: int = 3, threads: int | None = None) -> dict:
    """Tokens/s of the bare LM (transformers' generate) vs the captioner, same prompt length."""
    import torch

    from .build import build_model
    from .config import ModelConfig
    from .model.generation import Sampling

    threads = _threads(threads)
    model = build_model(ModelConfig())
    prompt = "Critique the composition of this photo."
    ids, mask, _ = model.tokenize([prompt])
    # the bare LM reads ordinary tokens where the captioner has image slots: same length
    bare_ids = ids.masked_fill(ids == model.image_token_id, model.tokenizer.pad_token_id)
    image = torch.rand(1, 3, model.config.vision.image_size, model.config.vision.image_size)
    sampling = Sampling(new_tokens, ignore_eos=True)

    def bare():
        model.lm.generate(input_ids=bare_ids, attention_mask=mask, max_new_tokens=new_tokens,
                          min_new_tokens=new_tokens, do_sample=False,
                          pad_token_id=model.tokenizer.pad_token_id)

    with torch.inference_mode():
        bare_s, cap_s, time_ratio = alternate(bare, lambda: model.generate_ids(image, [prompt], sampling), repeats)
    return {"benchmark": "generate", "prompt_tokens": ids.shape[1], "new_tokens": new_tokens,
            "lm_tokens_per_s": round(new_tokens / bare_s, 2),
            "captioner_tokens_per_s": round(new_tokens / cap_s, 2),
            "ratio": round(1 / time_ratio, 3), "goal_ratio_min": 0.95,
            "note": "captioner time includes IASM + IAS-ViT encoding of the image", **machine(threads)}


def _threads(threads: int | None) -> int:
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


BENCH_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "moon", "hubble_deep_field")


def bench_critique(model: str | None = None, batch: int = 8, repeats: int = 2, threads: int | None = None) -> dict:
    """Seconds per photo for the critic (default: the bundled one) on scikit-image's real photos:
    the first aspect alone, a full seven-aspect critique, and photos in a batch of `batch`; the
    language model's prefill vs decode time within a full critique; peak resident memory."""
    import resource

    from PIL import Image
    from skimage import data

    from .critic.api import load
    from .critic.teacher import ASPECTS

    threads = _threads(threads)
    critic = load(model)
    photos = [Image.fromarray(getattr(data, n)()).convert("RGB") for n in BENCH_PHOTOS[:batch]]
    one = photos[0]
    critic.critique(one)  # warm-up: first-call allocations, lazy loads
    first = statistics.median(_time(lambda: critic.critique(one, aspects=ASPECTS[:1])) for _ in range(repeats))
    full = statistics.median(_time(lambda: critic.critique(one)) for _ in range(repeats))
    batched = _time(lambda: critic.critique_batch(photos)) / len(photos)
    out = {"benchmark": "critique", "model": critic.name, "photos": list(BENCH_PHOTOS[:batch]),
           "first_aspect_s": round(first, 3), "full_critique_s": round(full, 3),
           "batch": len(photos), "batch_s_per_photo": round(batched, 3),
           "batch_speedup": round(full / batched, 2), **_split(critic, one, ASPECTS),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "goals": {"first_aspect_s_max": 3, "full_critique_s_max": 20, "batch_speedup_min": 3,
                     "peak_rss_mb_max": 2500}}
    return out | machine(threads)


def _split(critic, photo, aspects) -> dict:
    """Prefill (image encoding + prompt, up to the first new token) vs the rest of decoding."""
    import torch

    from .model.generation import Sampling

    model = critic.model
    if model is None:
        return {"prefill_s": None, "decode_s": None, "note": "the teacher writes without a language model"}
    prompts = [model.config.prompt(a) for a in aspects]

    def run(n):
        return model.generate_ids([photo], prompts, Sampling(n), repeat=len(aspects))

    with torch.inference_mode():
        prefill = statistics.median(_time(lambda: run(1)) for _ in range(2))
        t = time.perf_counter()
        ids = run(96)
        total = time.perf_counter() - t
    new = int((ids != model.tokenizer.pad_token_id).sum())
    return {"prefill_s": round(prefill, 3), "decode_s": round(total - prefill, 3), "new_tokens": new,
            "decode_tokens_per_s": round(new / max(total - prefill, 1e-9), 1)}


def bench_serve(model: str | None = None, requests: int = 200, concurrency: int = 8, queue: int = 4,
                start_timeout: float = 600) -> dict:
    """`asemllm serve` under load from this (second) process: `requests` POSTs of a real photo from
    `concurrency` client threads that honour 503's Retry-After. Reports the status codes, latency
    of the answered ones, and the server's resident memory (Linux VmRSS) after warm-up and at the end."""
    import io
    import socket
    import subprocess
    import sys
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image
    from skimage import data

    buf = io.BytesIO()
    Image.fromarray(data.astronaut()).save(buf, "JPEG", quality=90)
    photo = buf.getvalue()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [sys.executable, "-c", "from asemllm.cli import main; raise SystemExit(main())", "serve",
           "--port", str(port), "--queue", str(queue)] + (["--model", model] if model else [])
    server = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        name = _wait_healthy(url, server, start_timeout)
        statuses, latencies, errors, rss = [], [], [], []
        lock, done = threading.Lock(), threading.Event()

        def sample_memory():
            while not done.wait(0.5):
                rss.append((len(statuses), _rss_mb(server.pid)))

        def client(n):
            for _ in range(n):
                t = time.perf_counter()
                status, retry = _post(url + "/v1/critique", photo)
                with lock:
                    statuses.append(status)
                    if status == 200:
                        latencies.append(time.perf_counter() - t)
                    elif status != 503:
                        errors.append(status)
                if status == 503:
                    time.sleep(retry)

        sampler = threading.Thread(target=sample_memory, daemon=True)
        sampler.start()
        t0 = time.perf_counter()
        shares = [requests // concurrency + (i < requests % concurrency) for i in range(concurrency)]
        with ThreadPoolExecutor(concurrency) as pool:
            list(pool.map(client, shares))
        wall = time.perf_counter() - t0
        done.set()
        sampler.join()
        alive = _get(url + "/health") == 200 and server.poll() is None
    finally:
        server.terminate()
        server.wait(30)
    warm = [m for n, m in rss if n >= requests // 10 and m is not None]
    counts = {str(k): statuses.count(k) for k in sorted(set(statuses), key=str)}
    lat = sorted(latencies)
    return {"benchmark": "serve", "model": name, "requests": len(statuses), "concurrency": concurrency,
            "queue": queue, "statuses": counts, "errors_other_than_503": len(errors), "server_alive": alive,
            "wall_s": round(wall, 1), "answered_per_s": round(len(lat) / wall, 3),
            "latency_s": {"p50": round(lat[len(lat) // 2], 3), "p95": round(lat[int(len(lat) * 0.95)], 3)} if lat else None,
            "rss_mb": {"after_warmup": warm[0] if warm else None, "max": max(warm) if warm else None,
                       "end": warm[-1] if warm else None},
            "rss_growth_mb": round(warm[-1] - warm[0], 1) if warm else None,
            # resident memory after every quarter of the requests: flat, or still climbing?
            "rss_mb_by_quarter": [next((m for n, m in rss if n >= q * requests // 4), None) for q in (1, 2, 3)]
            + [warm[-1] if warm else None], **machine(None)}


def _wait_healthy(url: str, server, timeout: float) -> str:
    import json
    import urllib.request

    t = time.perf_counter()
    while time.perf_counter() - t < timeout:
        if server.poll() is not None:
            raise RuntimeError(f"asemllm serve exited ({server.returncode}): {server.stderr.read().decode()[-500:]}")
        try:
            with urllib.request.urlopen(url + "/health", timeout=5) as r:
                return json.loads(r.read())["model"]
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"asemllm serve did not answer {url}/health within {timeout:.0f} s")


def _post(url: str, body: bytes) -> tuple[int, float]:
    """-> (status, seconds to wait before retrying); a refused or dropped connection is status 0."""
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, method="POST", headers={"Content-Type": "image/jpeg"})
    try:
        with urllib.request.urlopen(req, timeout=600) as r:
            r.read()
            return r.status, 0.0
    except urllib.error.HTTPError as e:
        e.read()
        return e.code, float(e.headers.get("Retry-After") or 1)
    except OSError:
        return 0, 1.0


def _get(url: str) -> int:
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status
    except OSError:
        return 0


def _rss_mb(pid: int) -> float | None:
    """Resident memory of a process (Linux /proc); None where that is not available."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        return None
    return None
