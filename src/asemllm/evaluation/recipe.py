"""`asemllm reproduce`: the paper's comparison from a dataset's own files, in one resumable command.

convert -> check -> train -> evaluate ASE-MLLM with each saliency source (iasm, and the ablations
none, centre-bias, random) -> the zero-shot baselines -> one table (Markdown and JSON) with 95%
intervals, each system's difference from ASE-MLLM (iasm) tested by the paired photo-level bootstrap
(`compare.paired_bootstrap`). Everything goes under OUT:

  data/<split>.jsonl, data/convert.json   the converted records and the converter's report
  data/check.json                          the check of the converted records against the photos
  train/model                              the trained model (train/checkpoints while training)
  eval/ase-mllm/results.json               ASE-MLLM, one column per saliency source
  eval/<baseline>/results.json             one folder per baseline
  comparison.json, comparison.md           the table

A step whose output exists is skipped, saying so in the log, and the unfinished steps resume: training
from its last checkpoint, generation from its predictions file. The recipe trains in this one process;
for several GPUs run `accelerate launch -m asemllm.cli train --config ... --out OUT/train` first, and
the recipe then finds OUT/train/model and goes on from there.
"""

from __future__ import annotations

import json
from pathlib import Path

from .caption_metrics import METRICS

REFERENCE = "ASE-MLLM (iasm)"
ALPHA = 0.05


def reproduce(root, format: str, config, out, baselines=(), image_root=None, split: str = "test",
              batch_size: int = 8, max_new_tokens: int = 96, metrics=METRICS, resamples: int = 1000,
              log=print) -> dict:
    """Run every step not yet done; return the comparison (what comparison.json holds)."""
    from .caption_metrics import require_java

    require_java()  # before hours of training, not after
    out = Path(out)
    photos = _photos_root(root, image_root)
    data = convert(root, format, out / "data", photos, log)
    check(out / "data", photos, split, log)
    model = train(config, out / "data" / "train.jsonl", photos, out / "train", log)
    test = str(data / f"{split}.jsonl")
    gen = dict(batch_size=batch_size, max_new_tokens=max_new_tokens, image_root=str(photos), metrics=metrics)
    systems = evaluate(model, test, split, out / "eval" / "ase-mllm", gen, log)
    for model_id in baselines:
        systems.update(baseline(model_id, test, split, out / "eval", gen, log))
    return compare(systems, out, resamples, log)


def _photos_root(root, image_root) -> Path:
    """Where relative photo paths point: --image-root, else the dataset folder (or a root file's folder)."""
    if image_root:
        return Path(image_root)
    root = Path(root)
    return root.parent if root.is_file() else root


def _done(step: str, output: Path, log) -> bool:
    if output.exists():
        log(f"{step}: skipped, {output} exists")
        return True
    log(f"{step}: running -> {output}")
    return False


def convert(root, format: str, folder: Path, photos: Path, log) -> Path:
    """The dataset's own files -> folder/<split>.jsonl; the converter's report in folder/convert.json."""
    from ..data.check import convert_to_jsonl

    report = folder / "convert.json"
    if not _done("convert", report, log):
        result = convert_to_jsonl(format, root, folder, photos_root=photos)
        _write_json(report, result)
    return folder


def check(folder: Path, photos: Path, split: str, log) -> dict:
    """The converted records against the photos: a train or `split` split that is absent, or train
    photos that are missing or unreadable (training would stop on the first), is a ValueError; eval
    photos that are missing are logged (each scores as an empty prediction, for every system alike)."""
    from ..data.check import check as check_data

    path = folder / "check.json"
    if _done("check", path, log):
        return json.loads(path.read_text())
    result = check_data("jsonl", folder, photos_root=photos)
    splits = result["splits"]
    for name in dict.fromkeys(("train", split)):
        if name not in splits:
            raise ValueError(f"{folder}: no {name!r} records after conversion (splits: {', '.join(splits) or 'none'})")
    bad = splits["train"]["photos_missing"] + splits["train"]["photos_unreadable"]
    if bad:
        examples = splits["train"]["missing_examples"] + splits["train"]["unreadable_examples"]
        raise ValueError(f"{bad} train photo(s) missing or unreadable under {photos}, e.g. {examples[0]}")
    lost = splits[split]["photos_missing"] + splits[split]["photos_unreadable"]
    if lost:
        log(f"check: {lost} {split} photo(s) missing or unreadable: their jobs score as empty for every system")
    _write_json(path, result)
    return result


def train(config, data: Path, photos: Path, folder: Path, log) -> Path:
    """The config's model and stage trained on the converted train split into folder (resumes)."""
    from ..training.loop import train as run
    from ..training.settings import TrainSettings

    model = folder / "model"
    if not _done("train", model, log):
        settings = TrainSettings.load(config)
        settings.out, settings.data.train, settings.data.image_root = str(folder), str(data), str(photos)
        run(settings, log=log)
        if not model.is_dir():
            raise ValueError(f"{config}: training stopped before max_steps ({folder}/checkpoints); run again to resume")
    return model


def evaluate(model: Path, data: str, split: str, folder: Path, gen: dict, log) -> dict:
    """ASE-MLLM with each saliency source on the split -> {"ASE-MLLM (<source>)": results.json path}."""
    from ..model.iasm import SOURCES
    from .run import evaluate as run

    path = folder / "results.json"
    if not _done("evaluate ASE-MLLM", path, log):
        run(str(model), data, split, str(folder), sources=list(SOURCES), log=log, **gen)
    return {f"ASE-MLLM ({s})": path for s in json.loads(path.read_text())["results"]}


def baseline(model_id: str, data: str, split: str, folder: Path, gen: dict, log) -> dict:
    """One zero-shot baseline on the split -> {its name: results.json path}."""
    from .baselines import evaluate_baseline, system_name

    name = system_name(model_id)
    path = folder / name / "results.json"
    if not _done(f"baseline {model_id}", path, log):
        evaluate_baseline(model_id, data, split, str(folder / name), name=name, log=log, **gen)
    return {name: path}


def compare(systems: dict, out: Path, resamples: int, log) -> dict:
    """Every system against ASE-MLLM (iasm), paired by photo -> comparison.json and comparison.md."""
    from .compare import holds, paired_bootstrap

    path = out / "comparison.json"
    if path.exists() and json.loads(path.read_text()).get("systems_order") == list(systems):
        log(f"compare: skipped, {path} exists for these systems")
        return json.loads(path.read_text())
    log(f"compare: {len(systems)} systems -> {path}")
    results = {name: _system(p, name) for name, p in systems.items()}
    ref = results[REFERENCE]
    table = {"reference": REFERENCE, "difference": "system - reference (a: the system, b: the reference)",
             "alpha": ALPHA, "systems_order": list(systems),
             "systems": {n: {"results": str(systems[n]), "corpus": r["corpus"], "ci95": r["ci95"]}
                         for n, r in results.items()},
             "differences": {}}
    for name, r in results.items():
        if name != REFERENCE:
            d = paired_bootstrap(r, ref, n=resamples)  # difference = system - reference
            d["holds"] = {m: holds(e, ALPHA) for m, e in d["metrics"].items()}
            table["differences"][name] = d
    _write_json(path, table)
    (out / "comparison.md").write_text(markdown(table))
    return table


def _system(path: Path, name: str) -> dict:
    """The scores of one system (one column of a results.json)."""
    results = json.loads(Path(path).read_text())["results"]
    key = name[len("ASE-MLLM ("):-1] if name.startswith("ASE-MLLM (") else name
    return results[key]


def markdown(table: dict) -> str:
    """The scores with their 95% intervals, then each difference from the reference with its interval
    and p-value; a dagger marks the differences that hold."""
    systems = table["systems"]
    metrics = list(systems[table["reference"]]["corpus"])
    lines = ["| system | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for name, s in systems.items():
        cells = [_interval(s["corpus"][m], s["ci95"].get(m)) for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"Difference from {table['reference']} (system - reference), 95% interval and two-sided p "
              f"of the paired photo-level bootstrap; † the difference holds (p < {table['alpha']}).", "",
              "| system | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for name, d in table["differences"].items():
        cells = [_difference(d["metrics"][m], d["holds"][m]) if m in d["metrics"] else "n/a" for m in metrics]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _interval(value: float, ci) -> str:
    return f"{value:.4f} [{ci[0]:.4f}, {ci[1]:.4f}]" if ci else f"{value:.4f}"


def _difference(entry: dict, held: bool) -> str:
    lo, hi = entry["ci"]
    return f"{entry['difference']:+.4f} [{lo:+.4f}, {hi:+.4f}] p={entry['p']:.3f}" + (" †" if held else "")


def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=2) + "\n")
