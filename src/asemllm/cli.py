"""The `asemllm` command: thin wrappers over the package's functions."""

from __future__ import annotations

import argparse
import json
import sys


def _info(args) -> int:
    from . import __version__
    from .backbones import IASM, LM, VISION

    print(f"asemllm {__version__}")
    print(f"vision backbones: {', '.join(VISION)}")
    print(f"language models:  {', '.join(LM)}")
    print(f"IASM backbones:   {', '.join(IASM)}")
    if args.load:
        _load_offline()
    return 0


def _quiet() -> None:
    """No per-tensor loading bars on the terminal: one line per backbone says enough."""
    from transformers.utils import logging

    logging.disable_progress_bar()
    logging.set_verbosity_error()


def _load_offline() -> None:
    """Load the three offline backbones (converted once into the cache) and say what they are."""
    from .backbones import load_iasm_encoder, load_lm, load_vision
    from .backbones.cache import cache_dir

    _quiet()
    tower = load_vision("dinov2-s", 224)[0]
    print(f"dinov2-s: {type(tower).__name__}, {sum(p.numel() for p in tower.parameters()) / 1e6:.1f}M params")
    enc = load_iasm_encoder("efficientnet-lite0", 128)[0]
    print(f"efficientnet-lite0: {sum(p.numel() for p in enc.parameters()) / 1e6:.2f}M params (to stride 32)")
    lm, tok = load_lm("smollm2-135m-instruct", "<image>")
    print(f"smollm2-135m-instruct: {type(lm).__name__}, {sum(p.numel() for p in lm.parameters()) / 1e6:.0f}M params, "
          f"vocab {len(tok)}")
    print(f"cache: {cache_dir()}")


def _bench(args) -> int:
    from . import bench

    _quiet()
    if args.what == "vision":
        result = bench.bench_vision(batch=args.batch, repeats=args.repeats or 10, threads=args.threads)
    else:
        result = bench.bench_generate(new_tokens=args.new_tokens, repeats=args.repeats or 3, threads=args.threads)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="asemllm", description="Aesthetic critiques of photos with a "
                                "saliency-enhanced multimodal LLM (ASE-MLLM).")
    sub = p.add_subparsers(dest="command", required=True)

    info = sub.add_parser("info", help="version and backbone names")
    info.add_argument("--load", action="store_true",
                      help="also load the offline backbones (the first time converts them: about a minute)")
    info.set_defaults(func=_info)

    b = sub.add_parser("bench", help="speed benchmarks that print JSON")
    b.add_argument("what", choices=["vision", "generate"],
                   help="vision: plain ViT vs IASM+IAS-ViT; generate: bare LM vs captioner tokens/s")
    b.add_argument("--json", action="store_true", help="one line of JSON")
    b.add_argument("--batch", type=int, default=8, help="vision: images per forward (default 8)")
    b.add_argument("--new-tokens", type=int, default=64, help="generate: tokens to decode (default 64)")
    b.add_argument("--repeats", type=int, default=None, help="timed repeats per side (default 10 for vision, 3 for generate); medians are reported")
    b.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    b.set_defaults(func=_bench)
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"asemllm: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
