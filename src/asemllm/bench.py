"""Benchmarks that print JSON: the cost of saliency fusion in the vision encoder, and of the
captioner's decoding against the bare LM. Timings alternate between the two sides in one process
so that machine noise hits both alike; the median of the repeats is reported."""

from __future__ import annotations

import os
import platform
import statistics
import time
from pathlib import Path


def machine(threads: int) -> dict:
    import torch

    return {"machine": platform.platform(), "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(), "threads": threads, "torch": torch.__version__}


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    _sync()
    return time.perf_counter() - t


def _sync() -> None:
    """CUDA runs asynchronously: wait for queued kernels so that a timing covers them."""
    import torch

    if torch.cuda.is_initialized():
        torch.cuda.synchronize()


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


def rotate(fns: list, repeats: int, warmup: int = 1) -> tuple[list[float], list[float]]:
    """Run fns in turn -> (median s of each, median of each one's paired ratio to fns[0]); the
    paired ratios cancel a slow moment of the machine as in `alternate`."""
    for _ in range(warmup):
        for fn in fns:
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for t, fn in zip(times, fns):
            t.append(_time(fn))
    ratios = [statistics.median(y / x for x, y in zip(times[0], t)) for t in times]
    return [statistics.median(t) for t in times], ratios


def bench_vision(batch: int = 8, repeats: int = 10, threads: int | None = None) -> dict:
    """Plain ViT vs IASM + IAS-ViT on the default offline backbones (dinov2-s, efficientnet-lite0),
    with the default config's IASM (the CNN alone) and with an IASM that reads the ViT (the bundled
    one if it does, else `saliency train`'s recipe untrained: weights do not change the cost), timed
    in turn in one process. The reading IASM runs inside the ViT's pass, as in the captioner."""
    import torch

    from .config import IASMConfig, ModelConfig
    from .model.iasm import saliency_tokens
    from .models import build_vision, iasm_weights_config
    from .saliency.train import TrainConfig

    threads = _threads(threads)
    cfg = ModelConfig()
    iasm, vision = build_vision(cfg)
    reads = iasm_weights_config("bundled")
    if reads.readout is None:  # the shipped IASM reads no ViT block: time the one `saliency train --readout 5` makes
        reads = IASMConfig(readout=5, image_size=TrainConfig.iasm_size, weights=None)
    r_iasm, r_vision = build_vision(ModelConfig(iasm=reads))
    for m in (iasm, vision, r_iasm, r_vision):
        m.eval()
    images = torch.rand(batch, 3, cfg.vision.image_size, cfg.vision.image_size)
    kv = cfg.fusion.kv_grid

    def fused():
        vision(images, saliency_tokens(iasm(images).features, kv))

    def fused_reading():
        r_vision(images, lambda vit: saliency_tokens(r_iasm(images, vit).features, kv))

    with torch.inference_mode():
        secs, ratios = rotate([lambda: vision(images, None), fused, fused_reading], repeats)
        _, iasm_s, iasm_share = alternate(lambda: vision(images, None), lambda: iasm(images), repeats)
    return {"benchmark": "vision", "batch": batch, "image_size": cfg.vision.image_size,
            "iasm_image_size": cfg.iasm.image_size, "fusion_layers": list(cfg.fusion.layers),
            "vit_s": round(secs[0], 4), "ias_vit_iasm_s": round(secs[1], 4), "iasm_s": round(iasm_s, 4),
            "ratio": round(ratios[1], 3), "iasm_share_of_vit": round(iasm_share, 3),
            "readout_block": reads.readout, "readout_iasm_image_size": reads.image_size,
            "ias_vit_iasm_readout_s": round(secs[2], 4), "ratio_readout": round(ratios[2], 3),
            "goal_ratio_max": 1.15, **machine(threads)}


def bench_generate(new_tokens: int = 64, repeats: int = 3, threads: int | None = None, batch: int = 1,
                   device: str = "cpu", backbones: str = "real") -> dict:
    """Tokens/s of the bare LM (transformers' generate) vs the captioner, same prompt length, for
    `batch` sequences at once (tokens/s counts every row's tokens)."""
    import torch

    from .models import build_model
    from .config import ModelConfig
    from .model.generation import Sampling

    threads = _threads(threads)
    _use_device(device)
    model = build_model(ModelConfig.from_dict(_with_backbones(ModelConfig().to_dict(), backbones))).to(device)
    prompt = "Critique the composition of this photo."
    ids, mask, _ = model.tokenize([prompt] * batch)
    # the bare LM reads ordinary tokens where the captioner has image slots: same length
    bare_ids = ids.masked_fill(ids == model.image_token_id, model.tokenizer.pad_token_id)
    image = torch.rand(batch, 3, model.config.vision.image_size, model.config.vision.image_size, device=device)
    sampling = Sampling(new_tokens, ignore_eos=True)

    def bare():
        model.lm.generate(input_ids=bare_ids, attention_mask=mask, max_new_tokens=new_tokens,
                          min_new_tokens=new_tokens, do_sample=False,
                          pad_token_id=model.tokenizer.pad_token_id)

    with torch.inference_mode():
        bare_s, cap_s, time_ratio = alternate(bare, lambda: model.generate_ids(image, [prompt] * batch, sampling),
                                              repeats)
    return {"benchmark": "generate", "prompt_tokens": ids.shape[1], "new_tokens": new_tokens, "batch": batch,
            "lm_tokens_per_s": round(batch * new_tokens / bare_s, 2),
            "captioner_tokens_per_s": round(batch * new_tokens / cap_s, 2),
            "ratio": round(1 / time_ratio, 3), "goal_ratio_min": 0.95,
            "note": "captioner time includes IASM + IAS-ViT encoding of the image",
            **_peak_memory(device), **_where(device, backbones, model.config), **machine(threads)}


RANDOM_BACKBONES = {"vision": "random:dinov2-s", "lm": "random:smollm2-135m"}
TRAIN_CONFIG = "configs/critic-cpu.yaml"  # the critic's recipe, relative to the repository root
ANSWER = ("The subject sits on the left third and the horizon is level, but about four per cent of the "
          "frame is clipped in the highlights: expose for them. The background is nearly as sharp as the "
          "subject and competes with it; a wider aperture would soften it and give depth.")


def bench_train(config: str | None = None, backbones: str = "real", device: str = "cpu",
                mixed_precision: str = "no", batch: int = 8, steps: int = 10, warmup: int = 2,
                threads: int | None = None) -> dict:
    """Seconds per optimiser step of training: the model and stage of a training config (default
    configs/critic-cpu.yaml), built, frozen, optimised and stepped by the training code itself
    (accelerate, AdamW, gradient clipping), on `batch` of scikit-image's real photos with answers
    of 15 to 105 tokens (a batch pads to its longest) and auxiliary targets. The batch is prepared
    once: loading is not timed."""
    from accelerate import Accelerator

    from .stages import set_stage, train_mode
    from .training.loop import build, optimizer, step

    threads = _threads(threads)
    _use_device(device)
    if mixed_precision not in ("no", "bf16"):
        raise ValueError(f"--mixed-precision {mixed_precision!r}: choose no or bf16")
    if batch < 1 or steps < 1:
        raise ValueError(f"--batch-size {batch} --steps {steps}: both must be at least 1")
    settings, path = _train_settings(config, backbones)
    model = build(settings)
    set_stage(model, settings.stage)
    acc = Accelerator(mixed_precision=mixed_precision, cpu=device == "cpu")
    opt = optimizer([p for p in model.parameters() if p.requires_grad], settings)
    wrapped, opt = acc.prepare(model, opt)
    images, prompts, answers, targets = _train_batch(model, batch)
    train_mode(model)
    s, losses = _time_steps(lambda: step(acc, wrapped, opt, images, prompts, answers, targets,
                                         settings.max_grad_norm).loss.item(), warmup, steps)
    mask = model.tokenize(prompts, answers)[1]
    return {"benchmark": "train", "config": str(path), "stage": settings.stage, "mixed_precision": mixed_precision,
            "batch": batch, "steps": steps, "warmup_steps": warmup, "image_tokens": model.num_image_tokens,
            "sequence_tokens": mask.shape[1], "padding_share": round(1 - mask.float().mean().item(), 3),
            "answer_tokens": round(statistics.mean(len(model.tokenizer(a)["input_ids"]) for a in answers)),
            "s_per_step": round(s, 4), "samples_per_s": round(batch / s, 2),
            **_peak_memory(device), "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
            "total_params": sum(p.numel() for p in model.parameters()),
            "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
            **_where(device, backbones, model.config), **machine(threads)}


def _time_steps(fn, warmup: int, steps: int) -> tuple[float, list[float]]:
    """fn() -> a loss; -> (median seconds of the calls after `warmup`, every call's loss).
    The first steps allocate optimiser state and pick kernels: they are not timed."""
    losses, times = [], []
    for i in range(warmup + steps):
        times.append(_time(lambda: losses.append(fn())))
    return statistics.median(times[warmup:]), losses


def _train_settings(config: str | None, backbones: str):
    """The training settings of `config` (default: the critic's), backbones swapped for `random:`."""
    from pathlib import Path

    from .training.settings import TrainSettings

    path = Path(config) if config else Path(__file__).resolve().parents[2] / TRAIN_CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"training config {path} not found (--config {config!r})")
    settings = TrainSettings.load(path)
    settings.model = _with_backbones(settings.model, backbones)
    return settings, path


def _with_backbones(model: dict, backbones: str) -> dict:
    """real: the config's own backbones; random: the offline ones' architectures, random weights."""
    if backbones not in ("real", "random"):
        raise ValueError(f"--backbones {backbones!r}: choose real or random")
    if backbones == "real":
        return model
    return {**model, **{part: {**model.get(part, {}), "backbone": name} for part, name in RANDOM_BACKBONES.items()}}


def _train_batch(model, batch: int):
    """-> (images (B,3,S,S), prompts, answers of 15-105 tokens, targets or None) from real photos."""
    import torch
    from PIL import Image
    from skimage import data

    from .images import to_batch

    names = [BENCH_PHOTOS[i % len(BENCH_PHOTOS)] for i in range(batch)]
    images = to_batch([Image.fromarray(getattr(data, n)()).convert("RGB") for n in names],
                      model.config.vision.image_size)  # what the model does with photos
    aspects = list(model.config.prompts)
    prompts = [_prompt(model.config, aspects[i % len(aspects)]) for i in range(batch)]
    ids = model.tokenizer((ANSWER + " ") * 3)["input_ids"]
    # 15 to 105 tokens, 60 on average: critiques differ in length, and a batch pads to its longest
    lengths = [60] if batch == 1 else [round(15 + 90 * i / (batch - 1)) for i in range(batch)]
    answers = [model.tokenizer.decode(ids[:n]) for n in lengths]
    targets = None
    n = model.config.aux_targets
    if n:  # claims hold or not, some unknown (NaN): as in the critic's records
        targets = torch.randint(0, 2, (batch, n), generator=torch.Generator().manual_seed(0)).float()
        targets[:, ::5] = float("nan")
    return images, prompts, answers, targets


def _prompt(config, aspect: str) -> str:
    """The aspect's prompt; a findings model (config.findings) also reads the claims to state, as
    in training: three of the teacher's claim ids stand for a typical list."""
    if not getattr(config, "findings", False):
        return config.prompt(aspect)
    from .critic.teacher import ALL_RULES

    return config.prompt(aspect, [r.id for r in ALL_RULES[:3]])


def _use_device(device: str) -> None:
    """Check that `device` is there; on a GPU, start counting peak memory from here."""
    import torch

    if device not in ("cpu", "cuda"):
        raise ValueError(f"--device {device!r}: choose cpu or cuda")
    if device == "cuda":
        if not torch.cuda.is_available():
            build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "a CPU-only build"
            raise ValueError(f"--device cuda: torch {torch.__version__} ({build}) sees no CUDA GPU")
        torch.cuda.reset_peak_memory_stats()


def _where(device: str, backbones: str, config) -> dict:
    import torch

    name = torch.cuda.get_device_name() if device == "cuda" else f"cpu ({torch.get_num_threads()} threads)"
    return {"device": name, "backbones": backbones, "vision": config.vision.backbone, "lm": config.lm.backbone,
            "iasm": config.iasm.backbone}


def _peak_memory(device: str) -> dict:
    """GPU: the most tensor memory allocated at once; CPU: the process's peak resident memory."""
    import resource

    import torch

    if device == "cuda":
        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20),
                "peak_memory": "torch.cuda.max_memory_allocated"}
    return {"peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "peak_memory": "peak RSS of the process"}


def _threads(threads: int | None) -> int:
    import torch

    if threads:
        torch.set_num_threads(threads)
    return torch.get_num_threads()


BENCH_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins", "moon", "hubble_deep_field")


def bench_critique(model: str | None = None, batch: int = 8, repeats: int = 3, threads: int | None = None,
                   precision: str = "fp32", folder: str | None = None, photos: int = 32, device: str = "cpu",
                   rows: int | None = None) -> dict:
    """Seconds per photo for the critic (default: the bundled one) on `batch` of scikit-image's real
    photos: the first aspect alone, a full seven-aspect critique, and the same photos in one batch;
    the language model's prefill vs decode time within one photo's critique; peak resident memory.
    Then the throughput of a collection (`bench_stream`): `photos` photos of `folder` (default
    NUS_STREAM) one at a time and as one stream, and the stream's LM-bound.

    The batch's speedup is over the same photos critiqued one at a time, not over one photo: the
    photos' critiques differ in length, and so in time, so one photo would flatter or slight the
    batch by its luck."""
    import resource

    from PIL import Image
    from skimage import data

    from .critic.api import load
    from .critic.teacher import ASPECTS

    if not 1 <= batch <= len(BENCH_PHOTOS):
        raise ValueError(f"--batch-size {batch}: choose 1 to {len(BENCH_PHOTOS)} (the benchmark's photos)")
    threads = _threads(threads)
    _use_device(device)
    critic = _on_device(load(model, precision), device)
    names = BENCH_PHOTOS[:batch]
    images = [Image.fromarray(getattr(data, n)()).convert("RGB") for n in names]
    alone: dict[str, list[float]] = {n: [] for n in names}

    def one_at_a_time():
        for n, p in zip(names, images):
            alone[n].append(_time(lambda: critic.critique(p)))

    # the photos one at a time and as a batch in turn (after a warm-up of each): the speedup is the
    # median of the paired ratios, so a slow moment of the machine does not land on one side only
    singles, batched, ratio = alternate(one_at_a_time, lambda: critic.critique_batch(images), repeats)
    each = {n: round(statistics.median(t[1:]), 3) for n, t in alone.items()}  # t[0]: the warm-up
    first = {n: round(_time(lambda: critic.critique(p, aspects=ASPECTS[:1])), 3) for n, p in zip(names, images)}
    out = {"benchmark": "critique", "model": critic.name, "precision": precision, "photos": list(names),
           "first_aspect_s": round(statistics.median(first.values()), 3), "first_aspect_s_slowest": max(first.values()),
           "first_aspect_s_by_photo": first,
           "full_critique_s": round(singles / len(images), 3), "full_critique_s_slowest": max(each.values()),
           "full_critique_s_by_photo": each,
           "batch": len(images), "batch_s_per_photo": round(batched / len(images), 3),
           "batch_speedup": round(1 / ratio, 2), "split_photo": names[0], **_split(critic, images[0], ASPECTS),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
           "goals": {"first_aspect_s_max": 3, "full_critique_s_max": 20, "batch_speedup_min": 3,
                     "peak_rss_mb_max": 2500}}
    stream = bench_stream(critic, folder, photos, rows)
    out |= {k: stream.pop(k) for k in STREAM_KEYS} | {"stream": stream, "device": device}
    out["goals"] |= {"stream_vs_serial_min": 2.0, "bound_vs_stream_min": 0.8}
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    return out | machine(threads)


# The collection the stream is timed on: NUS scene photos 401-500 (../shared/data, DATA.md), the
# first `photos` of them.
NUS_STREAM = ("saliency/nus_scene/data/stimuli", 401, 500)
STREAM_KEYS = ("serial_photos_per_min", "stream_photos_per_min", "bound_photos_per_min", "stream_vs_serial",
               "bound_vs_stream")
BOUND_PASSES = ((4, 128), (8, 64), (16, 32), (32, 16), (64, 8))  # (rows, positions) of the timed LM passes


def bench_stream(critic, folder: str | None = None, photos: int = 32, rows: int | None = None) -> dict:
    """A collection's throughput: the photos one at a time (a `critique` call each, as a loop over
    them would) and as one stream (`Critic.critique_stream`), in photos a minute, and the stream's
    LM-bound: the LM's tokens a photo in the stream (rows x positions of every pass, guesses and
    padding included) times the LM's best time a token (the fastest of single passes of
    BOUND_PASSES shapes, no cache), plus the time a photo takes to be read into the prompts
    (saliency, attributes, content, image encoding and findings, a chunk of photos at a time as
    the stream does it). `bound_vs_stream` is the bound's time over the stream's: 1.0 is at the
    bound. The stream runs first, so the drafter's lookups it builds favour the photos one at a
    time, not the stream."""
    from .images import MIN_SIDE, load_image
    from .critic.findings import prompts as findings_prompts
    from .critic.teacher import ASPECTS

    paths = _stream_photos(folder, photos)
    loaded = [load_image(p, min_side=MIN_SIDE) for p in paths]  # read once: the critic's work is timed, not the disk
    critic.critique(loaded[0])  # warm-up
    lm = critic.model.lm if critic.model is not None else None
    fed = _Fed(lm)
    t = time.perf_counter()
    streamed = list(critic.critique_stream(loaded, rows=rows))
    _sync()
    stream_s = time.perf_counter() - t
    tokens, lm_s, passes = fed.stop()
    serial, serial_s = [], 0.0
    for p in loaded:
        serial_s += _time(lambda: serial.append(critic.critique(p)))
    n = len(loaded)
    out = {"folder": str(Path(paths[0]).parent), "photos": n, "rows": rows, "stream_s": round(stream_s, 2),
           "serial_s": round(serial_s, 2), "serial_photos_per_min": _rate(n, serial_s),
           "stream_photos_per_min": _rate(n, stream_s), "stream_vs_serial": round(serial_s / stream_s, 2),
           # photos whose texts the stream and the calls one at a time wrote alike (float ties aside: all)
           "same_texts": sum(a["critique"] == b["critique"] for a, b in zip(streamed, serial))}
    if lm is None:
        return out | {"bound_photos_per_min": None, "bound_vs_stream": None,
                      "note": "the teacher writes without a language model: no LM-bound"}
    from .model.generation import STREAM_ROWS

    def encode(chunk):
        _, photos_, *_ = critic._prepared(chunk, None)
        encoded = critic.model.encode(photos_)
        findings_prompts(critic.model, photos_, ASPECTS, encoded)

    import torch

    with torch.inference_mode():
        encode_s = sum(_time(lambda: encode(loaded[i:i + 4])) for i in range(0, n, 4)) / n
        best, shape = _best_token_time(lm)
    bound_s = tokens / n * best + encode_s
    return out | {"rows": rows or STREAM_ROWS, "lm_tokens_per_photo": round(tokens / n, 1),
                  "lm_passes": passes, "lm_s_per_photo": round(lm_s / n, 3),
                  "best_ms_per_token": round(1000 * best, 3), "best_pass": list(shape),
                  "encode_s_per_photo": round(encode_s, 3), "bound_s_per_photo": round(bound_s, 3),
                  "stream_s_per_photo": round(stream_s / n, 3), "serial_s_per_photo": round(serial_s / n, 3),
                  "bound_photos_per_min": _rate(n, bound_s * n), "bound_vs_stream": round(bound_s * n / stream_s, 2)}


def _stream_photos(folder: str | None, photos: int) -> list[str]:
    from .critic.collection import list_photos

    if folder is None:
        root = os.environ.get("ASEMLLM_SHARED_DATA") or Path(__file__).resolve().parents[3] / "shared" / "data"
        where, first, last = NUS_STREAM
        folder = str(Path(root) / where)
        numbered = [(Path(p.uri).stem, p.uri) for p in list_photos([folder])]
        paths = [uri for stem, uri in numbered if stem.isdigit() and first <= int(stem) <= last]
    else:
        paths = [p.uri for p in list_photos([folder])]
    if len(paths) < photos or photos < 1:
        raise ValueError(f"--photos {photos}: {folder} has {len(paths)} photos")
    return paths[:photos]


class _Fed:
    """Counts what a language model reads (rows x positions of each forward pass) and the time
    its passes take, from hooks on it, until `stop`."""

    def __init__(self, lm):
        self.tokens = self.passes = 0
        self.seconds, self.hooks = 0.0, []
        if lm is not None:
            self.hooks = [lm.register_forward_pre_hook(self.pre, with_kwargs=True),
                          lm.register_forward_hook(self.post)]

    def pre(self, module, args, kwargs):
        x = kwargs.get("inputs_embeds")
        if x is None:
            x = kwargs.get("input_ids", args[0] if args else None)
        self.tokens += x.shape[0] * x.shape[1]
        self.passes += 1
        _sync()
        self.t = time.perf_counter()

    def post(self, *_):
        _sync()
        self.seconds += time.perf_counter() - self.t

    def stop(self) -> tuple[int, float, int]:
        for h in self.hooks:
            h.remove()
        return self.tokens, self.seconds, self.passes


def _best_token_time(lm) -> tuple[float, tuple[int, int]]:
    """The LM's least seconds a token over single passes of BOUND_PASSES shapes (median of 3 each,
    after a warm-up) -> (seconds, (rows, positions) of that pass)."""
    import torch

    from .model.generation import _Step

    step = _Step(lm)
    emb = lm.get_input_embeddings()
    best = (float("inf"), None)
    for b, t in BOUND_PASSES:
        ids = torch.randint(0, emb.num_embeddings, (b, t), device=emb.weight.device)
        inputs, mask = emb(ids), torch.ones(b, t, dtype=torch.long, device=ids.device)
        step(inputs, mask, None)
        s = statistics.median(_time(lambda: step(inputs, mask, None)) for _ in range(3)) / (b * t)
        best = min(best, (s, (b, t)), key=lambda x: x[0])
    return best


def _on_device(critic, device: str):
    """The critic with its captioner on `device`. The saliency maps and content labels are read on
    the CPU (their code there turns tensors into arrays), from a CPU copy of the IASM."""
    import copy

    if device == "cpu" or critic.model is None:
        return critic
    critic.iasm = copy.deepcopy(critic.model.iasm).cpu()
    critic.model.to(device)
    return critic


def _split(critic, photo, aspects) -> dict:
    """Prefill (image encoding + prompt, up to the first new token) vs the rest of decoding."""
    import torch

    from .critic.findings import prompts as findings_prompts
    from .model.generation import Sampling

    model = critic.model
    if model is None:
        return {"prefill_s": None, "decode_s": None, "note": "the teacher writes without a language model"}
    prompts = findings_prompts(model, [photo], aspects)

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
                start_timeout: float = 600, workers: int = 1) -> dict:
    """`asemllm serve` under load from this (second) process: `requests` POSTs of a real photo from
    `concurrency` client threads that honour 503's Retry-After. Reports the status codes, latency
    of the answered ones, and the server's resident memory (Linux VmRSS) after warm-up and at the end.
    `workers`: the server's --workers (its worker processes' memory is not in the RSS figures)."""
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
           "--port", str(port), "--queue", str(queue), "--workers", str(workers)] + (["--model", model] if model else [])
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
            "queue": queue, "workers": workers, "statuses": counts, "errors_other_than_503": len(errors), "server_alive": alive,
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


def bench_collection(photos: str, engines=("default", "ray"), model: str | None = "teacher", limit: int = 48,
                     workers: int | None = None, batch_size: int = 8, threads: int | None = None) -> dict:
    """Photos per minute of `asemllm critique` over the first `limit` photos of the folder `photos`,
    with the default engine (this process, batches of `batch_size`) and with `--engine ray` (a local
    Ray, `workers` actors; default one per CPU). Per engine: the wall time a user waits (critic
    loads and Ray's start included) and the steady rate (from the first rows to the last, what a
    long collection sees), overall and per core; the load average says what else the machine ran.
    `threads`: torch threads of the default engine (default: torch's choice, as `asemllm critique`);
    each Ray actor runs as many as its CPUs (one)."""
    import tempfile

    from .critic.api import load
    from .critic.collection import Settings, critique_collection, list_photos

    listed = list_photos([photos])[:limit]
    if not listed:
        raise ValueError(f"{photos}: no photos")
    cores = os.cpu_count() or 1
    out = {"benchmark": "collection", "photos": len(listed), "folder": photos, "batch_size": batch_size}
    for engine in engines:
        with tempfile.TemporaryDirectory(prefix="asemllm-bench-") as tmp:
            if engine == "default":
                result = _default_engine(load, listed, model, batch_size, threads)
            elif engine == "ray":
                result = _ray_engine(critique_collection, Settings, listed, model, batch_size, workers, tmp)
            else:
                raise ValueError(f"engine {engine!r}: choose default or ray")
        out[engine] = result | {"photos_per_min_per_core": round(result["steady_photos_per_min"] / cores, 1)}
    return out | {"load_average_1m_at_end": round(os.getloadavg()[0], 2), **machine(None)}


def _rate(n: int, seconds: float) -> float:
    return round(60 * n / max(seconds, 1e-9), 1)


def _default_engine(load, listed, model, batch_size: int, threads: int | None) -> dict:
    """`asemllm critique DIR --out FILE` as its loop runs: the critic loaded once, photos decoded and
    critiqued in batches in this process (its torch and measurement threads use every core)."""
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(threads or saved)
    try:
        return _default_loop(load, listed, model, batch_size) | {"torch_threads": torch.get_num_threads()}
    finally:
        torch.set_num_threads(saved)


def _default_loop(load, listed, model, batch_size: int) -> dict:
    from .images import MIN_SIDE, load_image

    t0 = time.perf_counter()
    critic = load(model)
    t1 = time.perf_counter()
    first = None
    for i in range(0, len(listed), batch_size):
        chunk = listed[i:i + batch_size]
        critic.critique_batch([load_image(p.uri, min_side=MIN_SIDE) for p in chunk], names=[p.image for p in chunk])
        first = first or (time.perf_counter(), len(chunk))
    end = time.perf_counter()
    return {"model": critic.name, "wall_s": round(end - t0, 1), "load_s": round(t1 - t0, 1),
            "wall_photos_per_min": _rate(len(listed), end - t0),
            "steady_photos_per_min": _rate(len(listed) - first[1], end - first[0])}


def _ray_engine(critique_collection, Settings, listed, model, batch_size: int, workers, tmp: str) -> dict:
    """`asemllm critique DIR --engine ray --out DIR` on a local Ray started for it (stopped after)."""
    arrivals = []
    manifest = f"{tmp}/photos.txt"
    with open(manifest, "w") as f:
        f.write("".join(p.uri + "\n" for p in listed))
    t0 = time.perf_counter()
    summary = critique_collection([manifest], f"{tmp}/shards", Settings(model=model, batch_size=batch_size,
                                                                        workers=workers),
                                  on_rows=lambda n: arrivals.append((time.perf_counter(), n)))
    end = time.perf_counter()
    if summary["critiqued"] + summary["errors"] != len(listed):
        raise RuntimeError(f"the ray engine wrote {summary['critiqued'] + summary['errors']} of {len(listed)} rows")
    return {"workers": summary["workers"], "wall_s": round(end - t0, 1),
            "wall_photos_per_min": _rate(len(listed), end - t0),
            "steady_photos_per_min": _steady(arrivals, t0), "errors": summary["errors"]}


def _steady(arrivals: list[tuple[float, int]], t0: float) -> float:
    """Photos a minute from the first rows' arrival to the last's (from t0 when they came at once)."""
    if len(arrivals) < 2:
        return _rate(sum(n for _, n in arrivals), (arrivals[-1][0] if arrivals else t0) - t0)
    return _rate(sum(n for _, n in arrivals[1:]), arrivals[-1][0] - arrivals[0][0])
