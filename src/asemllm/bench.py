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
