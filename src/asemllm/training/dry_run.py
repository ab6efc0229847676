"""`asemllm train --config FILE --dry-run`: a training config's model at its real shapes, offline.

Every backbone is swapped for its random twin (`backbones.random_init.TWINS`: the published
architecture, random weights, nothing downloaded), the LM with its real vocabulary and a byte-level
tokenizer (only shapes matter). Then two optimiser steps of the config's stage run through the
training code on real photos with short made-up answers, and one short generation: what the run
will cost in memory and time per step on this machine, before any download or data. Nothing is
written.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
# short made-up critiques: a dry run measures cost, so only their length matters
ANSWERS = ("The horizon is level and the subject sits on the left third.",
           "Soft light from the left, but the sky is clipped.",
           "The background competes with the subject; open the aperture.",
           "Muted colours and blocked shadows flatten the scene.")


def twin_settings(settings, path: str = ""):
    """A copy of `settings` whose model has each backbone replaced by its random twin (an
    `init_from` folder contributes its config.json; its weights are not loaded)."""
    import copy

    from ..backbones.random_init import random_twin
    from ..config import ModelConfig

    out = copy.deepcopy(settings)
    model = ModelConfig.load(Path(settings.init_from) / "config.json").to_dict() if settings.init_from else out.model
    model = copy.deepcopy(model)
    for part in ("vision", "lm"):
        name = model.setdefault(part, {}).get("backbone", getattr(ModelConfig(), part).backbone)
        try:
            model[part]["backbone"] = random_twin(name)
        except ValueError as e:
            raise ValueError(f"{path or 'config'}: {part} backbone {e}") from None
    out.model, out.init_from = model, ""
    return out


def check_fits(settings, device: str, path: str = "") -> dict:
    """Refuse, before allocating anything, a model whose float32 backbones alone exceed the memory
    available here (on a shared machine an out-of-memory kill can take others' work with it).
    -> {"backbone_parameters", "weights_mb"} of the estimate."""
    from ..backbones.random_init import twin_parameters

    n = sum(twin_parameters(settings.model[part]["backbone"]) for part in ("vision", "lm"))
    need, available, where = 4 * n / 2**20, *_available_mb(device)
    if need > available:
        raise ValueError(f"{path or 'config'}: the backbones' {n / 1e9:.2f}B parameters need {need / 1024:.1f} GB "
                         f"in float32 before any activation; {where} has {available / 1024:.1f} GB available")
    return {"backbone_parameters": n, "weights_mb": round(need)}


def _available_mb(device: str) -> tuple[float, str]:
    """-> (MB free for a new allocation: the GPU's free memory, or the kernel's MemAvailable; where)."""
    import torch

    if device == "cuda":
        return torch.cuda.mem_get_info()[0] / 2**20, torch.cuda.get_device_name()
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) / 1024, "this machine"
    return float("inf"), "this machine"


def precision(configured: str, device: str) -> str:
    """The config's mixed precision where this device computes it natively, else "no" (float32):
    bf16 on GPUs that support it and on CPUs with AVX512-BF16 or AMX; fp16 on GPUs only."""
    import torch

    if configured == "no":
        return "no"
    if device == "cuda":
        return "no" if configured == "bf16" and not torch.cuda.is_bf16_supported() else configured
    from ..critic.api import native_bf16

    return "bf16" if configured == "bf16" and native_bf16() else "no"


def photo_batch(folder: Path, n: int, size: int):
    """-> ((n, 3, size, size) images in [0, 1], where they came from): the photos under `folder`
    in name order, repeated to fill the batch; scikit-image's sample photos where it is absent."""
    from ..images import to_batch

    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES) if folder.is_dir() else []
    if files:
        return to_batch([str(files[i % len(files)]) for i in range(n)], size), str(folder)
    from PIL import Image
    from skimage import data

    names = ("astronaut", "chelsea", "coffee", "rocket")
    photos = [Image.fromarray(getattr(data, names[i % len(names)])()).convert("RGB") for i in range(n)]
    return to_batch(photos, size), f"scikit-image samples ({folder} has no photos)"


def _prompts_and_targets(config, n: int):
    """Aspect prompts in turn (a findings model is told no claims), made-up answers, and random
    0/1 auxiliary targets with some unknown (NaN) when the model has the claim head."""
    import torch

    aspects = list(config.prompts)
    prompts = [config.prompt(aspects[i % len(aspects)], [] if config.findings else None) for i in range(n)]
    answers = [ANSWERS[i % len(ANSWERS)] for i in range(n)]
    targets = None
    if config.aux_targets:
        targets = torch.randint(0, 2, (n, config.aux_targets), generator=torch.Generator().manual_seed(0)).float()
        targets[:, ::5] = float("nan")
    return prompts, answers, targets


CPU_BATCH = 2  # the dry run's batch on a CPU when --batch-size does not say


def dry_run(settings, photos: Path, path: str = "", batch_size: int | None = None, steps: int = 2,
            new_tokens: int = 4) -> dict:
    """Build the twin model, run `steps` optimiser steps and one `new_tokens` generation -> the
    measurements (see the module docstring)."""
    import torch

    from .loop import build

    start, load = time.perf_counter(), _load_average()
    device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    # a config's batch is sized for its GPU; on a CPU the dry run checks the shapes at a small one
    batch = batch_size or (settings.batch_size if device == "cuda" else min(settings.batch_size, CPU_BATCH))
    if batch < 1 or steps < 1:
        raise ValueError(f"--batch-size {batch}, {steps} steps: both must be at least 1")
    twin = twin_settings(settings, path)
    estimate = check_fits(twin, device, path)
    with memory_cap(device, f"{path or 'config'} at batch {batch}"):
        model = build(twin)
        built = time.perf_counter() - start
        result = _measure(model, twin, device, photos, batch, steps, new_tokens)
    return {**result, **_peak_memory(device), "build_seconds": round(built, 1),
            "wall_seconds": round(time.perf_counter() - start, 1), "load_average": load, "config": path,
            "batch_size_configured": settings.batch_size, "mixed_precision_configured": settings.mixed_precision, "grad_accum_configured": twin.grad_accum,
            **estimate}


def _measure(model, settings, device: str, photos: Path, batch: int, steps: int, new_tokens: int) -> dict:
    """The stage's steps through accelerate and one generation, on the built model."""
    from accelerate import Accelerator

    from ..stages import set_stage
    from .loop import optimizer

    set_stage(model, settings.stage)
    mixed = precision(settings.mixed_precision, device)
    acc = Accelerator(mixed_precision=mixed, cpu=device == "cpu")
    opt = optimizer([p for p in model.parameters() if p.requires_grad], settings)
    wrapped, opt = acc.prepare(model, opt)
    images, source = photo_batch(photos, batch, model.config.vision.image_size)
    prompts, answers, targets = _prompts_and_targets(model.config, batch)
    losses, times, cpu = _train_steps(acc, wrapped, model, opt, (images, prompts, answers, targets), settings, steps)
    generated, gen_s = _generate(acc, model, images[:1], prompts[:1], new_tokens)
    n = sum(p.numel() for p in model.parameters())
    k = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return {"parameters": n, "trainable": k, "trainable_share": round(k / n, 6), "step_seconds": round(times[-1], 3),
            "step_seconds_each": [round(t, 3) for t in times], "step_cpu_seconds_each": [round(t, 3) for t in cpu],
            "generate_seconds": round(gen_s, 3), "new_tokens": generated, "losses": [round(x, 4) for x in losses],
            "device": _device_name(device), "mixed_precision": mixed,
            "dtype": "float32 weights" + (f", {mixed} autocast" if mixed != "no" else ""),
            "stage": settings.stage, "batch_size": batch, "image_tokens": model.num_image_tokens,
            "sequence_tokens": model.tokenize(prompts, answers)[1].shape[1], "vision": model.config.vision.backbone,
            "lm": model.config.lm.backbone, "iasm": model.config.iasm.backbone,
            "vocab_size": model.lm.get_input_embeddings().num_embeddings, "photos": source}


@contextlib.contextmanager
def memory_cap(device: str, what: str):
    """On a Linux CPU, cap this process's address space at what it maps now plus the memory available
    now, so that a batch too large fails here with a one-line error instead of waking the kernel's
    out-of-memory killer on a machine others share. Restored on the way out."""
    import resource

    if device != "cpu" or not Path("/proc/self/status").is_file():
        yield
        return
    old = resource.getrlimit(resource.RLIMIT_AS)
    cap = _status_kb("VmSize") * 1024 + int(_available_mb("cpu")[0] * 2**20)
    if old[1] != resource.RLIM_INFINITY:
        cap = min(cap, old[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, old[1]))
    try:
        yield
    except (MemoryError, RuntimeError) as e:
        if isinstance(e, RuntimeError) and "allocate memory" not in str(e):
            raise
        raise ValueError(f"{what}: out of memory ({cap / 2**30:.1f} GB of address space: what was free when the "
                         "dry run started); try a smaller --batch-size") from None
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


def _status_kb(key: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def _load_average() -> float | None:
    """The machine's 1-minute load average when the run started: step times on a shared CPU depend on it."""
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def _train_steps(acc, wrapped, model, opt, batch, settings, steps: int):
    """`steps` optimiser steps (accumulation 1: each is one batch) -> (losses, wall seconds of each,
    this process's CPU seconds of each: the CPU time does not grow when other processes compete)."""
    from ..bench import _sync
    from ..stages import train_mode
    from .loop import step

    images, prompts, answers, targets = batch
    train_mode(model)
    losses, times, cpu = [], [], []
    for _ in range(steps):
        t, c = time.perf_counter(), time.process_time()
        losses.append(step(acc, wrapped, opt, images, prompts, answers, targets, settings.max_grad_norm).loss.item())
        _sync()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return losses, times, cpu


def _generate(acc, model, images, prompts, new_tokens: int) -> tuple[int, float]:
    """One greedy generation of exactly `new_tokens` tokens -> (tokens written, seconds)."""
    from ..bench import _sync
    from ..model.generation import Sampling

    model.eval()
    t = time.perf_counter()
    with acc.autocast():
        ids = model.generate_ids(images.to(acc.device), prompts, Sampling(new_tokens, ignore_eos=True))
    _sync()
    return ids.shape[1], time.perf_counter() - t


def _peak_memory(device: str) -> dict:
    """GPU: the most tensor memory allocated at once; CPU: the process's peak resident memory."""
    import torch

    if device == "cuda":
        return {"peak_memory_mb": round(torch.cuda.max_memory_allocated() / 2**20),
                "peak_memory": "torch.cuda.max_memory_allocated"}
    if Path("/proc/self/status").is_file():
        return {"peak_memory_mb": round(_status_kb("VmHWM") / 1024), "peak_memory": "peak RSS (VmHWM)"}
    import resource

    return {"peak_memory_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
            "peak_memory": "peak RSS (getrusage)"}


def _device_name(device: str) -> str:
    import platform

    import torch

    if device == "cuda":
        return torch.cuda.get_device_name()
    return f"cpu: {_cpu_model() or platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")), "")


def report(r: dict) -> str:
    """The measurements as a few lines for the terminal."""
    return "\n".join([
        f"dry run of {r['config']} ({r['stage']}) on {r['device']}: {r['vision']} + {r['lm']}, random weights",
        f"parameters {r['parameters']:,}, trainable {r['trainable']:,} ({100 * r['trainable_share']:.2f}%)",
        f"batch {r['batch_size']}, {r['image_tokens']} image tokens, {r['sequence_tokens']} positions a row, "
        f"{r['mixed_precision']} mixed precision (config: {r['mixed_precision_configured']})",
        f"step {r['step_seconds']} s (each: {r['step_seconds_each']} wall, {r['step_cpu_seconds_each']} CPU; "
        f"load average {r['load_average']}), losses {r['losses']}",
        f"generation of {r['new_tokens']} tokens: {r['generate_seconds']} s",
        f"peak memory {r['peak_memory_mb']:,} MB ({r['peak_memory']}); wall {r['wall_seconds']} s",
    ])
