"""The `asemllm` command: one subcommand per action, each taking only its own flags; thin wrappers
over the package's functions."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import textwrap

# ---------------------------------------------------------------------------------------------------
# The actions: one small function per subcommand.


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


def _print_json(result, one_line: bool) -> int:
    print(json.dumps(result) if one_line else json.dumps(result, indent=2))
    return 0


def _to_stderr(text: str) -> None:
    """Progress of the long critic steps: on stderr, so that stdout stays the JSON result."""
    print(text, file=sys.stderr, flush=True)


def _bench_vision(args) -> int:
    from . import bench

    _quiet()
    return _print_json(bench.bench_vision(batch=args.batch_size, repeats=args.repeats, threads=args.threads),
                       args.json)


def _bench_generate(args) -> int:
    from . import bench

    _quiet()
    return _print_json(bench.bench_generate(new_tokens=args.max_new_tokens, repeats=args.repeats,
                                            threads=args.threads, batch=args.batch_size, device=args.device,
                                            backbones=args.backbones), args.json)


def _bench_critique(args) -> int:
    from . import bench

    _quiet()
    return _print_json(bench.bench_critique(model=args.model, batch=args.batch_size, repeats=args.repeats,
                                            threads=args.threads, precision=args.precision, folder=args.folder,
                                            photos=args.photos, device=args.device, rows=args.rows), args.json)


def _bench_serve(args) -> int:
    from . import bench

    _quiet()
    return _print_json(bench.bench_serve(model=args.model, requests=args.requests, concurrency=args.concurrency,
                                         workers=args.workers), args.json)


def _bench_train(args) -> int:
    from . import bench

    _quiet()
    return _print_json(bench.bench_train(config=args.config, backbones=args.backbones, device=args.device,
                                         mixed_precision=args.mixed_precision, batch=args.batch_size,
                                         steps=args.steps, threads=args.threads), args.json)


def _saliency_train(args) -> int:
    from pathlib import Path

    from .saliency.train import TrainConfig, train

    cfg = TrainConfig(data=args.data or str(_shared() / "saliency" / "nus_scene"), out=args.out,
                      epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, limit=args.limit,
                      selection=args.selection, readout=None if args.readout < 0 else args.readout,
                      iasm_size=args.iasm_size)
    state = train(cfg)
    print(f"best validation CC {state['best_cc']:.4f}: {Path(args.out) / 'best.safetensors'}")
    return 0


def _saliency_eval(args) -> int:
    from .saliency.report import run_eval

    result = run_eval(args.data or str(_shared() / "saliency"), weights=args.model, max_side=args.max_side,
                      log=None if args.json else print)
    return _print_json(result, args.json)


def _saliency_predict(args) -> int:
    from pathlib import Path

    from .saliency.predict import predict_to_folder

    report = predict_to_folder([Path(t) for t in args.targets], Path(args.out), weights=args.model)
    for item in report["written"]:
        print(f"{item['image']} -> {item['map']}, {item['overlay']}")
    print(f"{len(report['written'])} written, {len(report['failed'])} failed")
    return 1 if report["failed"] and not report["written"] else 0


def _data_convert(args) -> int:
    from .data.check import convert_to_jsonl

    return _data_report(convert_to_jsonl(args.format, args.root, args.out, photos_root=args.image_root), args.json)


def _data_check(args) -> int:
    from .data.check import check

    return _data_report(check(args.format, args.root, photos_root=args.image_root), args.json)


def _data_report(result: dict, as_json: bool) -> int:
    from .data.check import format_table

    if as_json:
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
    if args.batch_size:
        settings.batch_size = args.batch_size
    if args.dry_run:
        return _train_dry_run(args, settings)
    if args.json:
        raise ValueError("--json goes with --dry-run (a training run reports in its folder's log.jsonl)")
    state = train(settings)
    print(f"trained to step {state['step']}: {settings.out}/model")
    return 0


def _train_dry_run(args, settings) -> int:
    """The config's model with random twins of its backbones: two steps, one generation, no download."""
    from .training.dry_run import dry_run, report

    _quiet()
    result = dry_run(settings, _shared() / "photos", path=args.config, batch_size=args.batch_size)
    if args.json:
        return _print_json(result, True)
    print(report(result))
    return 0


def _eval(args) -> int:
    from .evaluation.run import evaluate
    from .model.iasm import SOURCES

    sources = list(SOURCES) if args.ablate_saliency else None
    result = evaluate(args.model, args.data, args.split, args.out, sources=sources, aspects=args.aspects,
                      batch_size=args.batch_size, max_new_tokens=args.max_new_tokens, image_root=args.image_root,
                      log=None if args.json else print)
    _print_scores(result, args)
    return 0


def _print_scores(result: dict, args) -> None:
    """An evaluation's result: one line of JSON, or the metrics table."""
    from .evaluation.run import table

    if args.json:
        print(json.dumps(_slim(result)))
    else:
        print(table(result))
        print(f"per-photo scores and configuration: {args.out}/results.json")


def _baseline(args) -> int:
    from .evaluation.baselines import evaluate_baseline

    _quiet()
    result = evaluate_baseline(args.model, args.data, args.split, args.out, aspects=args.aspects,
                               batch_size=args.batch_size, max_new_tokens=args.max_new_tokens,
                               image_root=args.image_root, log=None if args.json else print)
    _print_scores(result, args)
    return 0


def _reproduce(args) -> int:
    from .evaluation.recipe import reproduce

    _quiet()
    result = reproduce(args.root, args.format, args.config, args.out, baselines=args.baselines,
                       image_root=args.image_root, split=args.split, batch_size=args.batch_size,
                       max_new_tokens=args.max_new_tokens, resamples=args.resamples,
                       log=_to_stderr if args.json else print)
    if args.json:
        print(json.dumps(result))
    else:
        from pathlib import Path

        print((Path(args.out) / "comparison.md").read_text(), end="")
    return 0


def _slim(result: dict) -> dict:
    """An evaluation result without its per-photo scores and statistics (those stay in results.json)."""
    return {**result, "results": {k: {m: v for m, v in r.items() if m not in ("per_image", "stats")}
                                  for k, r in result["results"].items()}}


def _critique(args) -> int:
    if args.engine == "ray":
        return _critique_collection(args)
    _only_with_ray(args)
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
    # the names of the photos that loaded, in order: the critic takes each photo's name after the
    # photo, so an iterator over this growing list always has it
    readable = []

    def loaded():
        """The photos, read as the critic asks for them; one that cannot be read is skipped."""
        nonlocal failed
        for photo in photos:
            try:  # one bad photo never stops the others
                image = load_image(photo, min_side=MIN_SIDE)
            except ValueError as e:
                tqdm.write(f"asemllm: skip {e}", file=sys.stderr)
                failed += 1
                bar.update(1)
                continue
            readable.append(str(photo))
            yield image

    with open(args.out, "a") if args.out else contextlib.nullcontext() as sink:
        # one stream: --batch-size photos are read and encoded at a time, and their aspects decode
        # alongside those of the photos before and after them (Critic.critique_stream)
        for result in critic.critique_stream(loaded(), aspects=args.aspects, overlay_dir=args.overlay,
                                             names=iter(readable), chunk=args.batch_size):
            if sink:
                sink.write(json.dumps(result) + "\n")
                sink.flush()
            tqdm.write(json.dumps(result) if args.json else _as_text(result))
            bar.update(1)
    bar.close()
    return 1 if failed else 0


def _critic_data(args) -> int:
    from .critic.dataset import build

    print(json.dumps(build(args.out, args.root or _shared(), variants=args.variants, workers=args.workers)))
    return 0


def _critic_head(args) -> int:
    from .critic.refit import geometry_rules, noise_rules, refit_model

    _quiet()
    native = noise_rules() if args.native else None
    geometry = geometry_rules() if args.geometry else None
    print(json.dumps(refit_model(args.model, args.data, out=args.out, epochs=args.epochs, stats=args.stats,
                                 native=native, geometry=geometry, log=_to_stderr)))
    return 0


def _critic_finish(args) -> int:
    from .critic.refit import finish

    _quiet()
    print(json.dumps(finish(args.model, args.data, compact_out=args.out, log=_to_stderr)))
    return 0


def _critic_eval(args) -> int:
    from .critic.api import for_inference
    from .critic.evaluate import measure_critic

    _quiet()
    model = None if args.model == "teacher" else for_inference(args.model, args.precision)  # as the critic runs it
    extra = {} if args.family_edits is None else {"per_photo": args.family_edits}
    result = measure_critic(model, args.root or _shared(), limit=args.limit, log=_to_stderr, **extra)  # minutes per model
    if args.out:
        from pathlib import Path

        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
    else:  # the examples only in the file and in --json
        agreement = {k: v for k, v in result["claim_agreement"].items() if k != "examples"}
        print(json.dumps({k: v for k, v in result.items() if k != "claim_agreement"}
                         | {"claim_agreement": agreement}, indent=2))
    return 0


def _critic_compact(args) -> int:
    from .critic.compact import compact

    _quiet()
    print(json.dumps(compact(args.model, args.data, args.out, log=_to_stderr)))
    return 0


def _critic_coverage(args) -> int:
    from .critic.coverage import coverage, table

    result = coverage(args.data or _shared() / "pccd")
    print(json.dumps(result) if args.json else table(result))
    return 0


def _critic_bundle(args) -> int:
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
    attrs = r["attributes"].items()
    lines += [f"  {k.replace('_', ' ')}: {_num(a['value'])} {a['unit']} ({a['level']})" for k, a in attrs
              if a["value"] is not None]
    absent: dict[str, list[str]] = {}  # why -> names: "not recorded" -> the camera settings
    for k, a in attrs:
        if a["value"] is None:
            absent.setdefault(a["level"], []).append(k.replace("_", " "))
    if absent:
        lines.append("  not measured: " + "; ".join(f"{', '.join(names)} ({why})" for why, names in absent.items()))
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


def _critique_collection(args) -> int:
    """`critique --engine ray`: the Ray Data pipeline over a folder, list or manifest, shards to --out."""
    from .critic.collection import Settings, critique_collection

    if not args.out:
        raise ValueError("--engine ray needs --out DIR: the folder (or s3://... URI) its shards go to")
    if args.overlay:
        raise ValueError(f"--overlay {args.overlay}: not with --engine ray (its critiques go to the shards in --out)")
    _quiet()
    settings = Settings(model=args.model, precision=args.precision, aspects=args.aspects, batch_size=args.batch_size,
                        workers=args.workers, num_cpus_per_worker=_or(args.num_cpus_per_worker, 1.0),
                        num_gpus_per_worker=_or(args.num_gpus_per_worker, 0.0), fmt=args.format or "parquet",
                        shard_rows=args.shard_rows or 1000, address=args.address)
    summary = critique_collection(args.targets, args.out, settings, log=_to_stderr, progress=True)
    print(json.dumps(summary) if args.json else
          f"{summary['critiqued']} critiqued, {summary['errors']} error rows, {summary['skipped']} already done, "
          f"{summary['not_written']} not written: {summary['out']} ({summary['seconds']} s)")
    return 1 if summary["errors"] or summary["not_written"] else 0


def _only_with_ray(args) -> None:
    """The pipeline's flags mean nothing to the default engine: say so rather than ignore them."""
    for flag in RAY_FLAGS:
        if getattr(args, flag.lstrip("-").replace("-", "_")) is not None:
            raise ValueError(f"{flag}: only with --engine ray")


def _or(value, default):
    return default if value is None else value


def _serve(args) -> int:
    from . import load
    from .server import serve

    _quiet()
    if args.workers > 1:  # each worker process loads its own critic; this one loads none
        from functools import partial

        critic = partial(load, args.model, args.precision)
    else:
        critic = load(args.model, args.precision)
    serve(critic, host=args.host, port=args.port, max_upload_mb=args.max_upload_mb, max_pixels=args.max_pixels,
          timeout=args.timeout, queue=args.queue, workers=args.workers)
    return 0


# ---------------------------------------------------------------------------------------------------
# The parser: one sub-parser per action, with only that action's flags.


def parser() -> argparse.ArgumentParser:
    from . import __version__

    p = argparse.ArgumentParser(
        prog="asemllm", formatter_class=argparse.RawDescriptionHelpFormatter, allow_abbrev=False,
        description="Aesthetic critiques of photos with a saliency-enhanced multimodal LLM (ASE-MLLM).",
        epilog=_examples("asemllm critique photo.jpg --overlay runs/critique",
                         "asemllm serve --port 8000"))
    p.add_argument("--version", action="version", version=f"asemllm {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Subparser)
    _add_critique(sub)
    _add_serve(sub)
    _add_train(sub)
    _add_eval(sub)
    _add_baseline(sub)
    _add_reproduce(sub)
    _add_data(sub)
    _add_saliency(sub)
    _add_critic(sub)
    _add_bench(sub)
    _add_info(sub)
    return p


def _add_critique(sub) -> None:
    c = _command(sub, "critique", _critique, "critique photos: text by aspect, measured attributes, saliency",
                 "asemllm critique photo.jpg --overlay runs/critique",
                 "asemllm critique photos/ --json --out runs/critique/photos.jsonl --aspects composition focus",
                 "asemllm critique photos/ --engine ray --model teacher --workers 2 --out runs/critique/shards")
    c.add_argument("targets", nargs="+", metavar="PHOTOS",
                   help="photos or folders; with --engine ray also lists (.txt, a path a line) and manifests "
                        "(.csv/.parquet with a `path` column), local or URIs (s3://...)")
    _model_flag(c, "a trained ASE-MLLM folder, or 'teacher' (default: the bundled critic)")
    c.add_argument("--out", metavar="FILE.jsonl",
                   help="a JSON-lines file to append the critiques to; photos already in it are skipped (resume). "
                        "With --engine ray: a folder (or URI) of shards, photos already in them skipped")
    c.add_argument("--overlay", metavar="DIR", help="a folder for <stem>_overlay.jpg saliency overlays")
    _json_flag(c, "one JSON object per photo")
    c.add_argument("--aspects", nargs="*", metavar="A", help="only these aspects (default: all seven)")
    _batch_size_flag(c, 8, "photos read and encoded at a time; their aspects decode as one stream with the "
                           "photos before and after them")
    _precision_flag(c)
    _collection_flags(c)


RAY_FLAGS = ("--address", "--workers", "--num-cpus-per-worker", "--num-gpus-per-worker", "--format", "--shard-rows")


def _collection_flags(c) -> None:
    """`critique --engine ray`: the Ray Data pipeline for collections (docs/SCALING.md)."""
    c.add_argument("--engine", choices=["default", "ray"], default="default",
                   help="default: this process, in batches; ray: a Ray Data pipeline (parallel reads, a pool of "
                        "critic workers, retries), shards to --out DIR (see docs/SCALING.md)")
    c.add_argument("--address", metavar="ADDR", help="(ray) a Ray cluster: auto, or ray://HOST:10001 "
                                                     "(default: a local Ray on this machine)")
    c.add_argument("--workers", type=int, metavar="N",
                   help="(ray) critic workers, each loading the critic once (default: the cluster's CPUs, or its "
                        "GPUs with --num-gpus-per-worker, divided by the per-worker share)")
    c.add_argument("--num-cpus-per-worker", type=float, metavar="N", help="(ray) CPUs per worker (default 1)")
    c.add_argument("--num-gpus-per-worker", type=float, metavar="N",
                   help="(ray) GPUs reserved per worker (default 0); the critic's inference is CPU code today")
    c.add_argument("--format", choices=["parquet", "jsonl"],
                   help="(ray) the shards' format (default parquet: nested fields as JSON strings)")
    c.add_argument("--shard-rows", type=int, metavar="N",
                   help="(ray) rows per shard (default 1000; a shard is also written every minute)")


def _add_serve(sub) -> None:
    s = _command(sub, "serve", _serve, "HTTP API and web page over the critic (POST /v1/critique, GET /, GET /health)",
                 "asemllm serve --port 8000",
                 "asemllm serve --host 0.0.0.0 --model runs/critic/model --precision bf16",
                 "asemllm serve --model teacher --workers 2 --queue 4")
    _model_flag(s, "a trained ASE-MLLM folder, or 'teacher' (default: the bundled critic)")
    s.add_argument("--host", default="127.0.0.1", metavar="ADDR",
                   help="address to bind (default 127.0.0.1: this machine only)")
    s.add_argument("--port", type=int, default=8000, metavar="N", help="(default 8000)")
    s.add_argument("--max-upload-mb", type=float, default=20, metavar="MB",
                   help="largest accepted upload (default 20 MB)")
    s.add_argument("--max-pixels", type=int, default=50_000_000, metavar="N",
                   help="largest accepted photo (default 50 MP)")
    s.add_argument("--timeout", type=float, default=60, metavar="S",
                   help="seconds before a critique answers 504 (default 60)")
    s.add_argument("--queue", type=int, default=4, metavar="N",
                   help="critiques that may wait behind the running ones; more get 503 (default 4)")
    s.add_argument("--workers", type=int, default=1, metavar="N",
                   help="critiques at once: N worker processes, each loading the critic once (default 1: one, "
                        "in the server's process)")
    _precision_flag(s)


def _add_train(sub) -> None:
    t = _command(sub, "train", _train, "train ASE-MLLM on converted critique data (resumes from the run's last "
                 "checkpoint; launch with `accelerate launch` for several processes/GPUs)",
                 "asemllm train --config configs/critic-cpu.yaml",
                 "asemllm train --config configs/tiny-cpu.yaml --out runs/tiny --max-steps 4",
                 "asemllm train --config configs/pccd-1gpu.yaml --dry-run --batch-size 2 --json")
    t.add_argument("--config", required=True, metavar="FILE", help="run settings, JSON or YAML (see configs/)")
    t.add_argument("--out", metavar="DIR", help="the run folder (overrides the config's `out`)")
    t.add_argument("--max-steps", type=int, metavar="N", help="overrides the config's `max_steps`")
    t.add_argument("--batch-size", type=int, metavar="N", help="overrides the config's `batch_size` (per process)")
    t.add_argument("--dry-run", action="store_true",
                   help="train nothing: build the config's architectures with random weights (hf: ids -> offline "
                        "random twins, no download), run two steps on real photos and one short generation, and "
                        "report parameters, peak memory and step time on this machine (one process)")
    _json_flag(t, "with --dry-run: one JSON object")


def _add_eval(sub) -> None:
    e = _command(sub, "eval", _eval, "generate critiques for a split and score them (BLEU, METEOR, ROUGE-L, CIDEr-D)",
                 "asemllm eval --model runs/pccd/model --data data/pccd/test.jsonl --out runs/eval --ablate-saliency")
    _model_flag(e, "a saved model folder, 'default' (zero-shot offline model), or a ModelConfig .json",
                required=True, old="--checkpoint")
    _eval_flags(e)
    e.add_argument("--ablate-saliency", action="store_true",
                   help="run the split with saliency from iasm, none, centre-bias and random, side by side")


def _add_baseline(sub) -> None:
    b = _command(sub, "baseline", _baseline, "generate and score a split with a zero-shot transformers MLLM "
                 "(LLaVA-1.5, Qwen2-VL, ...: any AutoModelForImageTextToText) on `asemllm eval`'s jobs, prompts "
                 "and metrics",
                 "asemllm baseline --model llava-hf/llava-1.5-7b-hf --data data/pccd/test.jsonl --out runs/eval/llava")
    _model_flag(b, "a hub id or local folder of an image-text-to-text model with a chat template", required=True,
                metavar="ID")
    _eval_flags(b)


def _add_reproduce(sub) -> None:
    r = _command(sub, "reproduce", _reproduce, "the paper's comparison: convert, check, train, evaluate ASE-MLLM "
                 "and its saliency ablations, the baselines, then a table with paired tests (each step skipped "
                 "when its output exists)",
                 "asemllm reproduce --format pccd --root /data/PCCD --config configs/pccd-1gpu.yaml "
                 "--baselines llava-hf/llava-1.5-7b-hf Qwen/Qwen2-VL-7B-Instruct --out runs/paper")
    r.add_argument("--format", required=True, metavar="F",
                   help="pccd, dpc2022, ava-captions, dpc-captions, rpcd, jsonl or csv")
    r.add_argument("--root", required=True, metavar="R", help="the dataset's folder (or file)")
    r.add_argument("--image-root", metavar="DIR", help="where the photos are (default: the dataset root)")
    r.add_argument("--config", required=True, metavar="FILE", help="training settings, JSON or YAML (see configs/); "
                   "its out, data.train and data.image_root are replaced by OUT/train, the converted train "
                   "split and the photos' folder")
    r.add_argument("--out", required=True, metavar="DIR", help="the run folder (see `asemllm.evaluation.recipe`)")
    r.add_argument("--baselines", nargs="*", default=[], metavar="ID",
                   help="hub ids or local folders of zero-shot image-text-to-text models")
    r.add_argument("--split", default="test", metavar="NAME", help="the split compared (default test)")
    _batch_size_flag(r, 8, "photos per batched generation")
    r.add_argument("--max-new-tokens", type=int, default=96, metavar="N", help="(default 96)")
    r.add_argument("--resamples", type=int, default=1000, metavar="N",
                   help="bootstrap resamples of the photos (default 1000)")
    _json_flag(r, "the comparison as one line of JSON (the log goes to stderr)")


def _eval_flags(p) -> None:
    """What a baseline shares with `asemllm eval`: the data, the output folder and the generation."""
    p.add_argument("--data", required=True, metavar="FILE", help="JSONL written by `asemllm data convert`")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="a folder for predictions-*.jsonl (resumable) and results.json")
    p.add_argument("--split", default="test", metavar="NAME", help="(default test)")
    p.add_argument("--image-root", default="", metavar="DIR", help="resolve relative image paths against this folder")
    p.add_argument("--aspects", nargs="*", metavar="A", help="only these aspects (default: all)")
    _batch_size_flag(p, 8, "photos per batched generation")
    p.add_argument("--max-new-tokens", type=int, default=96, metavar="N", help="(default 96)")
    _json_flag(p, "one line of JSON (without per-photo scores)")


def _add_data(sub) -> None:
    d = _group(sub, "data", "convert and check aesthetic-critique datasets",
               "asemllm data check --format pccd --root ../shared/data/pccd",
               "asemllm data convert --format pccd --root /data/PCCD --out data/pccd")
    c = _command(d, "convert", _data_convert, "write OUT/<split>.jsonl, and report as check does",
                 "asemllm data convert --format pccd --root /data/PCCD --out data/pccd")
    _dataset_flags(c, out=True)
    k = _command(d, "check", _data_check, "report records, photos found/missing/unreadable, gaps and repeats",
                 "asemllm data check --format pccd --root ../shared/data/pccd --json")
    _dataset_flags(k)


def _dataset_flags(p, out: bool = False) -> None:
    p.add_argument("--format", required=True, metavar="F",
                   help="pccd, dpc2022, ava-captions, dpc-captions, rpcd, jsonl or csv")
    p.add_argument("--root", required=True, metavar="R",
                   help="the dataset's folder (or file, for the json/jsonl/csv formats)")
    if out:
        p.add_argument("--out", required=True, metavar="DIR", help="a folder for <split>.jsonl")
    _flag(p, "--image-root", old="--photos", metavar="DIR", help="where the photos are (default: the dataset root)")
    _json_flag(p, "one JSON object instead of the table")


def _add_saliency(sub) -> None:
    s = _group(sub, "saliency", "train, evaluate and use the IASM saliency module",
               "asemllm saliency predict photo.jpg --out runs/saliency", "asemllm saliency eval --json")
    weights = "IASM weights: 'bundled' (default) or a best.safetensors path"
    t = _command(s, "train", _saliency_train, "train the IASM on NUS scenes (001-340; the epoch chosen on 341-400)",
                 "asemllm saliency train --out runs/iasm")
    t.add_argument("--data", metavar="DIR",
                   help="the NUS scene folder (default: ../shared/data/saliency/nus_scene or "
                        "$ASEMLLM_SHARED_DATA/saliency/nus_scene)")
    t.add_argument("--out", default="runs/iasm", metavar="DIR", help="the run folder (default runs/iasm)")
    t.add_argument("--epochs", type=int, default=8, metavar="N", help="(default 8)")
    _batch_size_flag(t, 16, "photos per optimiser step")
    t.add_argument("--seed", type=int, default=0, metavar="N", help="(default 0)")
    t.add_argument("--limit", type=int, metavar="N", help="only the first N photos per split (quick trials)")
    t.add_argument("--selection", default="341-400", metavar="FIRST-LAST",
                   help="NUS photos that choose the best epoch; the rest of 001-400 trains, and 401-500 stays "
                        "untouched for `saliency eval` (default 341-400; 401-500 is the earlier recipe)")
    t.add_argument("--readout", type=int, default=-1, metavar="BLOCK",
                   help="also read this dinov2-s block's patch tokens (e.g. 5, the block the IAS-ViT's first fusion "
                        "follows; docs/DESIGN_NOTES.md); default -1: the CNN alone")
    t.add_argument("--iasm-size", type=int, default=128, metavar="PX",
                   help="the IASM's CNN input size (default 128)")
    e = _command(s, "eval", _saliency_eval,
                 "score saliency maps on the NUS and SALICON examples, with bootstrap intervals",
                 "asemllm saliency eval --json")
    e.add_argument("--data", metavar="DIR",
                   help="a folder holding nus_scene/ and salicon_examples/ (default: ../shared/data/saliency or "
                        "$ASEMLLM_SHARED_DATA/saliency)")
    _model_flag(e, weights, default="bundled", old="--weights", metavar="WEIGHTS")
    e.add_argument("--max-side", type=int, default=512, metavar="N",
                   help="longer side of the scoring frame (default 512)")
    _json_flag(e, "one line of JSON")
    p = _command(s, "predict", _saliency_predict, "write saliency maps and overlays of photos",
                 "asemllm saliency predict photo.jpg --out runs/saliency")
    p.add_argument("targets", nargs="+", metavar="PHOTOS", help="photos or folders")
    p.add_argument("--out", required=True, metavar="DIR",
                   help="a folder for <stem>.png (8-bit map at the photo's size) and <stem>_overlay.jpg")
    _model_flag(p, weights, default="bundled", old="--weights", metavar="WEIGHTS")


def _add_critic(sub) -> None:
    c = _group(sub, "critic", "the bundled critic's pipeline: build its training data, refit and compact a trained "
               "one, measure it on unseen photos, bundle it into the package",
               "asemllm critic data --out runs/critic-data", "asemllm critic eval --model teacher --limit 2")
    _add_critic_data(c)
    _add_critic_head(c)
    _add_critic_finish(c)
    _add_critic_eval(c)
    _add_critic_compact(c)
    _add_critic_bundle(c)
    _add_critic_coverage(c)


def _add_critic_data(sub) -> None:
    d = _command(sub, "data", _critic_data, "training data: edited real photos + teacher critiques",
                 "asemllm critic data --out runs/critic-data")
    _root_flag(d)
    d.add_argument("--out", default="runs/critic-data", metavar="DIR",
                   help="the output folder (default runs/critic-data)")
    d.add_argument("--variants", type=int, default=8, metavar="N",
                   help="versions of each photo, the first unedited (default 8)")
    d.add_argument("--workers", type=int, default=2, metavar="N", help="processes (default 2)")


def _add_critic_head(sub) -> None:
    h = _command(sub, "head", _critic_head, "refit a trained model's auxiliary head on its own image tokens "
                 "(over the model unless --out)",
                 "asemllm critic head --model runs/critic/model",
                 "asemllm critic head --model runs/critic/model --stats")
    _model_flag(h, "a trained model folder", required=True, metavar="DIR")
    _critic_data_flag(h)
    h.add_argument("--out", metavar="DIR", help="a new model folder (default: over --model)")
    h.add_argument("--epochs", type=int, metavar="N",
                   help="epochs over the training photos, the best on held-out photos kept (default 20; with "
                        "--stats or --native 100, with --geometry 200)")
    branch = h.add_mutually_exclusive_group()
    branch.add_argument("--stats", action="store_true",
                        help="add a head branch that reads photo statistics (tones, colour, sharpness, near-level "
                             "lines, saliency geometry) and train it alone; the LM is unchanged")
    branch.add_argument("--native", action="store_true",
                        help="add a linear head branch that decides the noise claims from the photo's noise at its "
                             "native resolution (which the model's 224 px copy averages away) and train it alone")
    branch.add_argument("--geometry", action="store_true",
                        help="(on a model refitted with --stats) add a small head branch that decides the "
                             "placement, subject-size and balance claims from the saliency map's geometry alone and "
                             "train it alone")


def _add_critic_finish(sub) -> None:
    f = _command(sub, "finish", _critic_finish, "head, head --stats, head --native and head --geometry over the "
                 "model, then with --out compact into --out, from one pass over the training photos",
                 "asemllm critic finish --model runs/critic/model --out runs/critic-compact/model")
    _model_flag(f, "a trained model folder", required=True, metavar="DIR")
    _critic_data_flag(f)
    f.add_argument("--out", metavar="DIR", help="a new model folder for the compact critic (default: no compacting)")


def _add_critic_eval(sub) -> None:
    e = _command(sub, "eval", _critic_eval, "claim agreement and controlled edits on NUS 401-500",
                 "asemllm critic eval --model teacher --limit 2 --json",
                 "asemllm critic eval --model runs/critic/model --out runs/critic/measured.json")
    _model_flag(e, "a trained model folder, or 'teacher' (default)", default="teacher", metavar="DIR")
    _root_flag(e)
    e.add_argument("--limit", type=int, metavar="N", help="only the first N of the 100 photos")
    e.add_argument("--family-edits", type=int, metavar="N",
                   help="how many of the measurement families' edits each photo gets, in turn (default: "
                        "asemllm.critic.evaluate.FAMILY_EDITS_PER_PHOTO); every core edit it always gets")
    e.add_argument("--out", metavar="FILE.json", help="a JSON file for the full result, example critiques included")
    _json_flag(e, "one line of JSON, with example critiques")
    _precision_flag(e)


def _add_critic_compact(sub) -> None:
    c = _command(sub, "compact", _critic_compact, "its two largest matrices to low rank, fitted on its training photos",
                 "asemllm critic compact --model runs/critic/model --out runs/critic-compact/model")
    _model_flag(c, "a trained model folder", required=True, metavar="DIR")
    c.add_argument("--out", required=True, metavar="DIR", help="a new model folder for the compact critic")
    _critic_data_flag(c)


def _add_critic_bundle(sub) -> None:
    b = _command(sub, "bundle", _critic_bundle, "copy a trained model into asemllm/weights/critic",
                 "asemllm critic bundle --model runs/critic-compact/model")
    _model_flag(b, "a trained model folder, measured by `critic eval --out DIR/measured.json`", required=True,
                metavar="DIR")
    b.add_argument("--out", metavar="DIR", help="the target folder (default: the package's weights/critic)")
    b.add_argument("--force", action="store_true",
                   help="copy even a critic whose measured.json misses the goals (experiments only)")


def _add_critic_coverage(sub) -> None:
    c = _command(sub, "coverage", _critic_coverage, "the share of PCCD's critique sentences whose topics the "
                 "teacher's rules cover, overall and by topic (a keyword tagger; see docs/MEASUREMENTS.md)",
                 "asemllm critic coverage --json",
                 "asemllm critic coverage --data ../shared/data/pccd")
    c.add_argument("--data", metavar="DIR",
                   help="the folder holding guru_validation.json and guru_test.json (default ../shared/data/pccd)")
    _json_flag(c, "the result as one line of JSON (default: a short table)")


def _root_flag(p) -> None:
    p.add_argument("--root", metavar="DIR", help="the shared data folder (default ../shared/data)")


def _critic_data_flag(p) -> None:
    p.add_argument("--data", default="runs/critic-data/train.jsonl", metavar="FILE",
                   help="the training records (default runs/critic-data/train.jsonl)")


def _add_bench(sub) -> None:
    b = _group(sub, "bench", "speed benchmarks that print JSON",
               "asemllm bench vision --json", "asemllm bench critique --json --precision bf16")
    _add_bench_vision(b)
    _add_bench_generate(b)
    _add_bench_critique(b)
    _add_bench_serve(b)
    _add_bench_train(b)


def _add_bench_vision(sub) -> None:
    v = _command(sub, "vision", _bench_vision, "plain ViT vs IASM + IAS-ViT: seconds per batch",
                 "asemllm bench vision --json")
    _batch_size_flag(v, 8, "images per forward", old="--batch")
    _repeats_flag(v, 10)
    _threads_flag(v)
    _json_flag(v, "one line of JSON")


def _add_bench_generate(sub) -> None:
    g = _command(sub, "generate", _bench_generate, "tokens/s: bare LM (transformers' generate) vs the captioner",
                 "asemllm bench generate --json",
                 "asemllm bench generate --backbones random --device cuda --batch-size 8 --json")
    _flag(g, "--max-new-tokens", old="--new-tokens", type=int, default=64, metavar="N",
          help="tokens to decode (default 64)")
    _batch_size_flag(g, 1, "sequences decoded together", old="--batch")
    _repeats_flag(g, 3)
    _threads_flag(g)
    _device_flag(g)
    _backbones_flag(g)
    _json_flag(g, "one line of JSON")


def _add_bench_critique(sub) -> None:
    c = _command(sub, "critique", _bench_critique, "seconds per photo of the critic, prefill/decode, peak memory; "
                 "photos a minute one at a time and as a stream, against the LM-bound",
                 "asemllm bench critique --json", "asemllm bench critique --json --precision bf16",
                 "asemllm bench critique --json --folder photos/ --photos 64 --device cuda")
    _model_flag(c, "a trained model folder or 'teacher' (default: the bundled critic)")
    _batch_size_flag(c, 8, "photos per batch", old="--batch")
    _repeats_flag(c, 3)
    _threads_flag(c)
    _precision_flag(c)
    c.add_argument("--folder", metavar="DIR",
                   help="photos for the throughput part (default: NUS scene photos 401-500 in ../shared/data)")
    c.add_argument("--photos", type=int, default=32, metavar="N",
                   help="photos of the folder for the throughput part (default 32)")
    c.add_argument("--rows", type=int, metavar="N", help="aspects the stream decodes at once (default 24)")
    _device_flag(c)
    _json_flag(c, "one line of JSON")


def _add_bench_serve(sub) -> None:
    s = _command(sub, "serve", _bench_serve, "`asemllm serve` under load from this process: statuses, latency, "
                 "server memory", "asemllm bench serve --json",
                 "asemllm bench serve --model teacher --workers 2 --requests 100 --json")
    _model_flag(s, "a trained model folder or 'teacher' (default: the bundled critic)")
    s.add_argument("--requests", type=int, default=200, metavar="N", help="POSTs in all (default 200)")
    s.add_argument("--concurrency", type=int, default=8, metavar="N", help="client threads (default 8)")
    s.add_argument("--workers", type=int, default=1, metavar="N", help="the server's --workers (default 1)")
    _json_flag(s, "one line of JSON")


def _add_bench_train(sub) -> None:
    t = _command(sub, "train", _bench_train, "seconds per optimiser step of a training config's model and stage, "
                 "peak memory", "asemllm bench train --config configs/tiny-cpu.yaml --steps 2 --json",
                 "asemllm bench train --backbones random --device cuda --mixed-precision bf16 --batch-size 8 --json")
    t.add_argument("--config", metavar="FILE",
                   help="a training config whose model and stage are timed (default configs/critic-cpu.yaml)")
    _backbones_flag(t)
    _device_flag(t)
    t.add_argument("--mixed-precision", choices=["no", "bf16"], default="no", help="autocast (default no)")
    _batch_size_flag(t, 8, "samples per step", old="--batch")
    t.add_argument("--steps", type=int, default=10, metavar="N",
                   help="timed optimiser steps after 2 warm-up ones (default 10)")
    _threads_flag(t)
    _json_flag(t, "one line of JSON")


def _repeats_flag(p, default: int) -> None:
    p.add_argument("--repeats", type=int, default=default, metavar="N",
                   help=f"timed repeats per side, medians reported (default {default})")


def _threads_flag(p) -> None:
    p.add_argument("--threads", type=int, metavar="N", help="torch threads (default: torch's choice)")


def _device_flag(p) -> None:
    p.add_argument("--device", choices=["cpu", "cuda"], default="cpu", help="(default cpu)")


def _backbones_flag(p) -> None:
    p.add_argument("--backbones", choices=["real", "random"], default="real",
                   help="the config's backbones (default), or random: their architectures with random weights "
                        "(random:dinov2-s, random:smollm2-135m) for machines without the weight packages")


def _add_info(sub) -> None:
    i = _command(sub, "info", _info, "version and backbone names", "asemllm info", "asemllm info --load")
    i.add_argument("--load", action="store_true",
                   help="also load the offline backbones (the first time converts them: about a minute)")


# ---------------------------------------------------------------------------------------------------
# Building blocks: sub-parsers with an example, the flags several actions share, renamed flags.


def _examples(*lines: str) -> str:
    return ("Example:\n" if len(lines) == 1 else "Examples:\n") + "".join(f"  {line}\n" for line in lines)


def _command(sub, name: str, func, summary: str, *examples: str) -> argparse.ArgumentParser:
    """A subcommand running `func(args)`; its --help ends with `examples`."""
    p = _subparser(sub, name, summary, examples)
    p.set_defaults(func=func)
    return p


def _group(sub, name: str, summary: str, *examples: str):
    """A subcommand of subcommands (`asemllm critic head ...`): returns the place to add them."""
    p = _subparser(sub, name, summary, examples)
    return p.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Subparser)


def _subparser(sub, name: str, summary: str, examples) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=summary, description=textwrap.fill(summary, 79), epilog=_examples(*examples),
                          formatter_class=argparse.RawDescriptionHelpFormatter,
                          allow_abbrev=False)  # one spelling: `--batch` is not `--batch-size`


def _model_flag(p, help: str, default=None, required: bool = False, old: str | None = None,
                metavar: str = "M") -> None:
    _flag(p, "--model", old=old, required=required, default=default, metavar=metavar, help=help)


def _json_flag(p, help: str) -> None:
    p.add_argument("--json", action="store_true", help=help)


def _batch_size_flag(p, default: int, what: str, old: str | None = None) -> None:
    _flag(p, "--batch-size", old=old, type=int, default=default, metavar="N", help=f"{what} (default {default})")


def _precision_flag(p) -> None:
    from .critic.api import PRECISIONS  # no torch: the module imports it where it is needed

    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="the critic's language model in float32 (default) or bfloat16: ~1.4x faster on CPUs "
                        "with native bf16 (AVX512-BF16, AMX), slower on others; the phrasing can differ")


def _flag(p, name: str, old: str | None = None, required: bool = False, **kwargs) -> None:
    """Add the flag `name`; with `old`, also its former spelling, hidden, which warns and stores into the
    same place (the two exclude each other, and `required` is met by either)."""
    if not old:
        p.add_argument(name, required=required, **kwargs)
        return
    both = p.add_mutually_exclusive_group(required=required)
    both.add_argument(name, **kwargs)
    both.add_argument(old, dest=name.lstrip("-").replace("-", "_"), type=kwargs.get("type"),
                      metavar=kwargs.get("metavar"), action=_OldSpelling, new=name)


class _Subparser(argparse.ArgumentParser):
    """A subcommand's parser: a flag it does not take is its usage error (`asemllm critic bundle: error:
    unrecognized arguments: --epochs 5`), not the top level's."""

    def parse_known_args(self, args=None, namespace=None):
        namespace, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return namespace, extras


class _OldSpelling(argparse.Action):
    """A renamed flag, kept one release: hidden from --help, warns on use, behaves as the new one."""

    def __init__(self, option_strings, dest, new: str, **kwargs):
        super().__init__(option_strings, dest, default=argparse.SUPPRESS, help=argparse.SUPPRESS, **kwargs)
        self.new = new

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"asemllm: warning: {option_string} is deprecated, use {self.new}", file=sys.stderr)
        setattr(namespace, self.dest, values)


def _shared():
    """../shared/data beside the checkout, where this project keeps its real data."""
    import os
    from pathlib import Path

    return Path(os.environ.get("ASEMLLM_SHARED_DATA") or Path.cwd().parent / "shared" / "data")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except (FileNotFoundError, ValueError, ImportError) as e:  # ImportError: an optional part not installed
        print(f"asemllm: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
