"""The `asemllm` command: thin wrappers over the package's functions."""

from __future__ import annotations

import argparse
import contextlib
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
        result = bench.bench_vision(batch=args.batch or 8, repeats=args.repeats or 10, threads=args.threads)
    elif args.what == "serve":
        result = bench.bench_serve(model=args.model, requests=args.requests, concurrency=args.concurrency)
    elif args.what == "critique":
        result = bench.bench_critique(model=args.model, batch=args.batch or 8, repeats=args.repeats or 3,
                                      threads=args.threads, precision=args.precision)
    elif args.what == "train":
        result = bench.bench_train(config=args.config, backbones=args.backbones, device=args.device,
                                   mixed_precision=args.mixed_precision, batch=args.batch or 8,
                                   steps=args.steps, threads=args.threads)
    else:
        result = bench.bench_generate(new_tokens=args.new_tokens, repeats=args.repeats or 3, threads=args.threads,
                                      batch=args.batch or 1, device=args.device, backbones=args.backbones)
    print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    return 0


def _saliency(args) -> int:
    from pathlib import Path

    saliency_root = _shared() / "saliency"
    if args.action == "train":
        from .saliency.train import TrainConfig, train

        args.out = args.out or "runs/iasm"
        cfg = TrainConfig(data=args.data or str(saliency_root / "nus_scene"), out=args.out, epochs=args.epochs, batch_size=args.batch_size,
                          seed=args.seed, limit=args.limit)
        state = train(cfg)
        print(f"best validation CC {state['best_cc']:.4f}: {Path(args.out) / 'best.safetensors'}")
    elif args.action == "eval":
        from .saliency.report import run_eval

        result = run_eval(args.data or str(saliency_root), weights=args.weights, max_side=args.max_side,
                          log=None if args.json else print)
        print(json.dumps(result) if args.json else json.dumps(result, indent=2))
    else:
        from .saliency.predict import predict_to_folder

        if not args.out:
            raise ValueError("saliency predict needs --out DIR")
        report = predict_to_folder([Path(t) for t in args.targets], Path(args.out), weights=args.weights)
        for item in report["written"]:
            print(f"{item['image']} -> {item['map']}, {item['overlay']}")
        print(f"{len(report['written'])} written, {len(report['failed'])} failed")
        return 1 if report["failed"] and not report["written"] else 0
    return 0


def _data(args) -> int:
    from .data.check import check, convert_to_jsonl, format_table

    if args.action == "convert":
        if not args.out:
            raise ValueError("data convert needs --out DIR")
        result = convert_to_jsonl(args.format, args.root, args.out, photos_root=args.photos)
    else:
        result = check(args.format, args.root, photos_root=args.photos)
    if args.json:
        print(json.dumps(result))
        return 0
    print(format_table(result))
    for split, path in result.get("written", {}).items():
        print(f"wrote {path} ({result['splits'][split]['records']} records)")
    return 0  # a report: missing photos are counted, not failed on


def _train(args) -> int:
    from .training.loop import train
    from .training.settings import TrainSettings

    settings = TrainSettings.load(args.config)
    if args.out:
        settings.out = args.out
    if args.max_steps:
        settings.max_steps = args.max_steps
    state = train(settings)
    print(f"trained to step {state['step']}: {settings.out}/model")
    return 0


def _eval(args) -> int:
    from .evaluation.run import ABLATION, evaluate, table

    sources = list(ABLATION) if args.ablate_saliency else None
    result = evaluate(args.checkpoint, args.data, args.split, args.out, sources=sources, aspects=args.aspects,
                      batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, image_root=args.image_root,
                      log=None if args.json else print)
    if args.json:
        slim = {**result, "results": {k: {m: v for m, v in r.items() if m != "per_image"}
                                      for k, r in result["results"].items()}}
        print(json.dumps(slim))
    else:
        print(table(result))
        print(f"per-photo scores and configuration: {args.out}/results.json")
    return 0


def _critique(args) -> int:
    from pathlib import Path

    from tqdm import tqdm

    from . import load
    from .images import MIN_SIDE, load_image
    from .saliency.predict import photos_in

    _quiet()
    critic = load(args.model, args.precision)
    done = _done_images(args.out)
    photos = [p for t in args.targets for p in photos_in(Path(t)) if str(p) not in done]
    failed = 0
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(photos), desc="critique", disable=len(photos) < 2 or not args.out)
    with open(args.out, "a") if args.out else contextlib.nullcontext() as sink:
        for i in range(0, len(photos), args.batch_size):
            loaded, names = [], []
            for photo in photos[i:i + args.batch_size]:
                try:  # one bad photo never stops the batch
                    loaded.append(load_image(photo, min_side=MIN_SIDE))
                    names.append(str(photo))
                except ValueError as e:
                    tqdm.write(f"asemllm: skip {e}", file=sys.stderr)
                    failed += 1
            results = critic.critique_batch(loaded, aspects=args.aspects, overlay_dir=args.overlay,
                                            names=names) if loaded else []
            for result in results:
                if sink:
                    sink.write(json.dumps(result) + "\n")
                    sink.flush()
                tqdm.write(json.dumps(result) if args.json else _as_text(result))
            bar.update(len(photos[i:i + args.batch_size]))
    bar.close()
    return 1 if failed else 0


def _critic(args) -> int:
    """The default critic's own pipeline: training data, measurement, bundling into the package."""
    if args.action == "data":
        from .critic.dataset import build

        print(json.dumps(build(args.out or "runs/critic-data", args.root or _shared(), variants=args.variants,
                               workers=args.workers)))
    elif args.action == "head":
        from .critic.head import geometry_rules, noise_rules, refit_model

        _quiet()
        native = noise_rules() if args.native else None
        geometry = geometry_rules() if args.geometry else None
        print(json.dumps(refit_model(args.model, args.data, out=args.out, epochs=args.epochs, stats=args.stats,
                                     native=native, geometry=geometry,
                                     log=lambda text: print(text, file=sys.stderr, flush=True))))
    elif args.action == "finish":
        from .critic.head import finish

        _quiet()
        print(json.dumps(finish(args.model, args.data, compact_out=args.out,
                                log=lambda text: print(text, file=sys.stderr, flush=True))))
    elif args.action == "eval":
        from .critic.api import for_inference
        from .critic.evaluate import measure_critic

        _quiet()
        model = None if args.model == "teacher" else for_inference(args.model, args.precision)  # as the critic runs it
        result = measure_critic(model, args.root or _shared(), limit=args.limit,
                                log=lambda text: print(text, file=sys.stderr, flush=True))  # minutes per model
        if args.out:
            from pathlib import Path

            Path(args.out).parent.mkdir(parents=True, exist_ok=True)
            Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
        print(json.dumps(result) if args.json else json.dumps({k: v for k, v in result.items()
                                                                if k != "claim_agreement"} | {
            "claim_agreement": {k: v for k, v in result["claim_agreement"].items() if k != "examples"}}, indent=2))
    elif args.action == "compact":
        from .critic.compact import compact

        if not args.out:
            raise ValueError("critic compact: give --out, a new folder for the compact critic")
        _quiet()
        print(json.dumps(compact(args.model, args.data, args.out,
                                 log=lambda text: print(text, file=sys.stderr, flush=True))))
    else:
        from .critic.bundle import bundle

        print(bundle(args.model, args.out, force=args.force))
    return 0


def _done_images(out) -> set[str]:
    """Photos already in a resumable output file (a half-written last line is ignored)."""
    from pathlib import Path

    done = set()
    if out and Path(out).is_file():
        for line in Path(out).read_text().splitlines():
            try:
                done.add(json.loads(line)["image"])
            except (json.JSONDecodeError, KeyError):
                continue
    return done


def _as_text(r: dict) -> str:
    lines = [r["image"], ""]
    lines += [f"{aspect.replace('_', ' ').capitalize()}: {text}{_backed(r['claims'][aspect])}"
              for aspect, text in r["critique"].items()]
    c = r["content"]
    lines += ["", f"Subject (ImageNet classifier): {c['label']}, p={c['confidence']:.2f}"
              + ("" if c["named_in_critique"] else " (too unsure to name it in the critique)"), "Measured:"]
    lines += [f"  {k.replace('_', ' ')}: {_num(a['value'])} {a['unit']} ({a['level']})" for k, a in r["attributes"].items()]
    if r["saliency"]["overlay"]:
        lines.append(f"Saliency overlay: {r['saliency']['overlay']}")
    lines.append(f"Model: {r['model']}; {r['timings']['total']:.2f} s")
    return "\n".join(lines) + "\n"


def _backed(claims: list[dict]) -> str:
    """' [2 of 3 claims backed by the measurements; not: highlights.clipped]'; '' without claims."""
    if not claims:
        return ""
    nots = [c["claim"] for c in claims if not c["backed"]]
    if len(claims) == 1:
        return f" [its claim is {'not ' if nots else ''}backed by the measurements]"
    if not nots:
        return f" [all {len(claims)} claims backed by the measurements]"
    return f" [{len(claims) - len(nots)} of {len(claims)} claims backed by the measurements; not: {', '.join(nots)}]"


def _num(v) -> str:
    return "n/a" if v is None else f"{v:.3g}"


def _serve(args) -> int:
    from . import load
    from .server import serve

    _quiet()
    serve(load(args.model, args.precision), host=args.host, port=args.port, max_upload_mb=args.max_upload_mb,
          max_pixels=args.max_pixels, timeout=args.timeout, queue=args.queue)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="asemllm", description="Aesthetic critiques of photos with a "
                                "saliency-enhanced multimodal LLM (ASE-MLLM).")
    sub = p.add_subparsers(dest="command", required=True)

    c = sub.add_parser("critique", help="critique photos: text by aspect, measured attributes, saliency")
    c.add_argument("targets", nargs="+", help="photos or folders")
    c.add_argument("--json", action="store_true", help="one JSON object per photo")
    c.add_argument("--aspects", nargs="*", default=None, help="only these aspects (default: all seven)")
    c.add_argument("--overlay", default=None, help="write <stem>_overlay.jpg saliency overlays here")
    c.add_argument("--out", default=None, help="append JSON lines here; photos already in it are skipped (resume)")
    c.add_argument("--model", default=None,
                   help="a trained ASE-MLLM folder, or 'teacher' (default: the bundled critic)")
    c.add_argument("--batch-size", type=int, default=8, help="photos per batched generation (default 8)")
    _precision_argument(c)
    c.set_defaults(func=_critique)

    cr = sub.add_parser("critic", help="the bundled critic's pipeline: build its training data, measure a "
                        "critic on unseen photos, bundle a trained one into the package")
    cr.add_argument("action", choices=["data", "head", "finish", "eval", "compact", "bundle"],
                    help="data: edited real photos + teacher critiques; head: refit a trained model's auxiliary "
                         "head on its own image tokens (over the model unless --out); finish: head, head --stats, "
                         "head --native and head --geometry over the model, then with --out compact into --out, from "
                         "one pass over the training photos; eval: claim agreement and "
                         "controlled edits on NUS 401-500; compact: its two largest matrices to low rank, fitted on its "
                         "training photos; bundle: copy a trained model into asemllm/weights/critic")
    cr.add_argument("--root", default=None, help="the shared data folder (default ../shared/data)")
    cr.add_argument("--out", default=None, help="data: output folder (runs/critic-data); eval: a JSON file; "
                    "compact, finish: a new model folder for the compact critic; bundle: target folder (default: "
                    "the package's weights/critic)")
    cr.add_argument("--variants", type=int, default=8, help="data: versions of each photo (the first unedited)")
    cr.add_argument("--workers", type=int, default=2, help="data: processes")
    cr.add_argument("--model", default="teacher",
                    help="head, finish, eval, compact, bundle: a trained model folder (eval: or 'teacher')")
    cr.add_argument("--data", default="runs/critic-data/train.jsonl",
                    help="head, finish, compact: the training records")
    cr.add_argument("--epochs", type=int, default=None,
                    help="head: epochs over the training photos, the best on held-out photos kept (default 20; "
                         "with --stats or --native 100, with --geometry 200)")
    cr.add_argument("--stats", action="store_true",
                    help="head: add a head branch that reads photo statistics (tones, colour, sharpness, "
                         "near-level lines, saliency geometry) and train it alone; the LM is unchanged")
    cr.add_argument("--native", action="store_true",
                    help="head: add a linear head branch that decides the noise claims from the photo's noise at its "
                         "native resolution (which the model's 224 px copy averages away) and train it alone")
    cr.add_argument("--geometry", action="store_true",
                    help="head (after --stats): add a small head branch that decides the placement, subject-size "
                         "and balance claims from the saliency map's geometry alone and train it alone")
    cr.add_argument("--limit", type=int, default=None, help="eval: only the first N of the 100 photos")
    cr.add_argument("--json", action="store_true", help="eval: one line of JSON, with example critiques")
    cr.add_argument("--force", action="store_true",
                    help="bundle: copy even a critic whose measured.json misses the goals (experiments only)")
    _precision_argument(cr, "eval: ")
    cr.set_defaults(func=_critic)

    info = sub.add_parser("info", help="version and backbone names")
    info.add_argument("--load", action="store_true",
                      help="also load the offline backbones (the first time converts them: about a minute)")
    info.set_defaults(func=_info)

    b = sub.add_parser("bench", help="speed benchmarks that print JSON")
    b.add_argument("what", choices=["vision", "generate", "critique", "serve", "train"],
                   help="vision: plain ViT vs IASM+IAS-ViT; generate: bare LM vs captioner tokens/s; "
                        "critique: seconds per photo of the critic, prefill/decode, peak memory; "
                        "serve: `asemllm serve` under load from this process (statuses, latency, server memory); "
                        "train: seconds per optimiser step of a training config's model and stage, peak memory")
    b.add_argument("--json", action="store_true", help="one line of JSON")
    b.add_argument("--batch", type=int, default=None,
                   help="vision: images per forward; critique: photos per batch; train: samples per step "
                        "(default 8); generate: sequences decoded together (default 1)")
    b.add_argument("--config", default=None,
                   help="train: a training config whose model and stage are timed (default configs/critic-cpu.yaml)")
    b.add_argument("--backbones", choices=["real", "random"], default="real",
                   help="generate, train: the config's backbones, or random: their architectures with random "
                        "weights (random:dinov2-s, random:smollm2-135m) for machines without the weight packages")
    b.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="generate, train (default cpu)")
    b.add_argument("--mixed-precision", choices=["no", "bf16"], default="no", help="train: autocast (default no)")
    b.add_argument("--steps", type=int, default=10, help="train: timed optimiser steps after 2 warm-up ones (default 10)")
    b.add_argument("--model", default=None,
                   help="critique, serve: a trained model folder or 'teacher' (default: the bundled critic)")
    b.add_argument("--requests", type=int, default=200, help="serve: POSTs in all (default 200)")
    b.add_argument("--concurrency", type=int, default=8, help="serve: client threads (default 8)")
    b.add_argument("--new-tokens", type=int, default=64, help="generate: tokens to decode (default 64)")
    b.add_argument("--repeats", type=int, default=None, help="timed repeats per side (default 10 for vision, 3 for generate and critique); medians are reported")
    b.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    _precision_argument(b, "critique: ")
    b.set_defaults(func=_bench)

    s = sub.add_parser("saliency", help="train, evaluate and use the IASM saliency module")
    s.add_argument("action", choices=["train", "eval", "predict"])
    s.add_argument("targets", nargs="*", help="predict: photos or folders")
    s.add_argument("--data", default=None,
                   help="train: NUS scene folder; eval: folder holding nus_scene/ and salicon_examples/ "
                        "(default: ../shared/data/saliency or $ASEMLLM_SHARED_DATA/saliency)")
    s.add_argument("--out", default=None, help="train: run folder (default runs/iasm); predict: output folder")
    s.add_argument("--weights", default="bundled", help="IASM weights: 'bundled' or a best.safetensors path")
    s.add_argument("--epochs", type=int, default=8)
    s.add_argument("--batch-size", type=int, default=16)
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--limit", type=int, default=None, help="train: first N photos per split (quick trials)")
    s.add_argument("--max-side", type=int, default=512, help="eval: longer side of the scoring frame")
    s.add_argument("--json", action="store_true", help="eval: one line of JSON")
    s.set_defaults(func=_saliency)

    d = sub.add_parser("data", help="convert and check aesthetic-critique datasets")
    d.add_argument("action", choices=["convert", "check"],
                   help="convert: write OUT/<split>.jsonl; check: report records, photos, gaps, repeats")
    d.add_argument("--format", required=True,
                   help="pccd, dpc2022, ava-captions, dpc-captions, rpcd, jsonl or csv")
    d.add_argument("--root", required=True, help="the dataset's folder (or file, for the json/jsonl/csv formats)")
    d.add_argument("--out", default=None, help="convert: output folder")
    d.add_argument("--photos", default=None, help="where the photos are (default: the dataset root)")
    d.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    d.set_defaults(func=_data)

    t = sub.add_parser("train", help="train ASE-MLLM on converted critique data (resumes from the run's "
                       "last checkpoint; launch with `accelerate launch` for several processes/GPUs)")
    t.add_argument("--config", required=True, help="run settings, JSON or YAML (see configs/)")
    t.add_argument("--out", default=None, help="run folder (overrides the config's `out`)")
    t.add_argument("--max-steps", type=int, default=None, help="overrides the config's `max_steps`")
    t.set_defaults(func=_train)

    e = sub.add_parser("eval", help="generate critiques for a split and score them (BLEU, METEOR, ROUGE-L, CIDEr-D)")
    e.add_argument("--checkpoint", required=True,
                   help="a saved model folder, 'default' (zero-shot offline model), or a ModelConfig .json")
    e.add_argument("--data", required=True, help="JSONL written by `asemllm data convert`")
    e.add_argument("--split", default="test")
    e.add_argument("--out", required=True, help="folder for predictions-*.jsonl (resumable) and results.json")
    e.add_argument("--image-root", default="", help="resolve relative image paths against this folder")
    e.add_argument("--aspects", nargs="*", default=None, help="only these aspects (default: all)")
    e.add_argument("--batch-size", type=int, default=8)
    e.add_argument("--max-new-tokens", type=int, default=96)
    e.add_argument("--ablate-saliency", action="store_true",
                   help="run the split with saliency from iasm, none, centre-bias and random, side by side")
    e.add_argument("--json", action="store_true", help="one line of JSON (without per-photo scores)")
    e.set_defaults(func=_eval)

    sv = sub.add_parser("serve", help="HTTP API and web page over the critic (POST /v1/critique, GET /, GET /health)")
    sv.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    sv.add_argument("--port", type=int, default=8000)
    sv.add_argument("--max-upload-mb", type=float, default=20, help="largest accepted upload (default 20 MB)")
    sv.add_argument("--max-pixels", type=int, default=50_000_000, help="largest accepted photo (default 50 MP)")
    sv.add_argument("--timeout", type=float, default=60, help="seconds before a critique answers 504 (default 60)")
    sv.add_argument("--queue", type=int, default=4,
                    help="critiques that may wait behind the running one; more get 503 (default 4)")
    sv.add_argument("--model", default=None,
                    help="a trained ASE-MLLM folder, or 'teacher' (default: the bundled critic)")
    _precision_argument(sv)
    sv.set_defaults(func=_serve)
    return p


def _precision_argument(p: argparse.ArgumentParser, which: str = "") -> None:
    from .critic.api import PRECISIONS  # no torch: the module imports it where it is needed

    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help=f"{which}the critic's language model in float32 (default) or bfloat16: ~1.4x faster on CPUs "
                        "with native bf16 (AVX512-BF16, AMX), slower on others; the phrasing can differ")


def _shared():
    """../shared/data beside the checkout, where this project keeps its real data."""
    import os
    from pathlib import Path

    return Path(os.environ.get("ASEMLLM_SHARED_DATA") or Path.cwd().parent / "shared" / "data")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError) as e:
        print(f"asemllm: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
