"""`asemllm eval`: batched generation into a resumable JSONL, then the standard caption metrics.

Every (photo, aspect) pair of the split is one job; its prompt is the one saved with the model.
A killed run continues where it stopped: finished jobs are read back from the predictions file.
With several saliency sources (the ablation) the same jobs run once per source.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

def jobs(records, split: str, aspects, prompts: dict, image_root: str = "") -> list[dict]:
    out = []
    for r in records:
        if r.split != split:
            continue
        image = str(Path(image_root) / r.image) if image_root and not Path(r.image).is_absolute() else r.image
        for aspect, refs in r.critiques.items():
            if (aspects and aspect not in aspects) or not refs or aspect not in prompts:
                continue
            out.append({"key": f"{r.id}|{aspect}", "image": image, "aspect": aspect, "references": refs})
    return out


def _done(path: Path) -> dict[str, str]:
    """Finished predictions; a half-written last line (a kill mid-write) is ignored."""
    done = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            done[row["key"]] = row["prediction"]
    return done


def generate(model, todo: list[dict], path: Path, batch_size: int, max_new_tokens: int, log=None) -> dict:
    """ASE-MLLM's critiques for the jobs not yet in `path`, with the prompt its findings shape."""
    import torch

    from ..critic.attributes import measure
    from ..critic.findings import holding, prompt_for, settings_of

    def texts(photos, batch):
        with torch.no_grad():
            encoded = model.encode(photos)  # once: for the findings and the prompts
        attributes = [measure(p) for p in photos] if model.config.settings else [None] * len(photos)
        said = holding(model, photos, encoded, attributes)
        prompts = [prompt_for(model, j["aspect"], s, settings_of(model, a)) for j, s, a in zip(batch, said, attributes)]
        return model.generate(photos, prompts, max_new_tokens=max_new_tokens, encoded=encoded)

    return resume(todo, path, batch_size, texts, log)


def resume(todo: list[dict], path: Path, batch_size: int, texts, log=None) -> dict:
    """Run `texts(photos, jobs) -> one string per job` over the jobs not yet in `path`, appending a
    row per job as each batch finishes, and return every finished job's prediction. Shared by
    `asemllm eval` and the baselines so that both resume and report bad photos the same way."""
    from ..images import load_image

    done = _done(path)
    rest = [j for j in todo if j["key"] not in done]
    with open(path, "a") as f:
        for i in range(0, len(rest), batch_size):
            batch, photos, ok = rest[i:i + batch_size], [], []
            for j in batch:
                try:
                    photos.append(load_image(j["image"]))
                    ok.append(j)
                except (ValueError, TypeError) as e:  # a bad photo is reported, the run goes on
                    done[j["key"]] = ""
                    f.write(json.dumps({"key": j["key"], "prediction": "", "error": str(e)}) + "\n")
            if ok:
                for j, t in zip(ok, texts(photos, ok)):
                    done[j["key"]] = t.strip()
                    f.write(json.dumps({"key": j["key"], "aspect": j["aspect"], "prediction": t.strip()}) + "\n")
            f.flush()
            if log:
                log(f"{min(i + batch_size, len(rest))}/{len(rest)} generated")
    return done


def evaluate(checkpoint: str, data: str, split: str, out: str, sources=None, aspects=None,
             batch_size: int = 8, max_new_tokens: int = 96, image_root: str = "",
             metrics=("bleu", "meteor", "rouge", "cider"), log=None) -> dict:
    import torch

    from ..data.records import read_jsonl
    from ..models import load_model
    from .caption_metrics import require_java

    require_java()  # before an hour of generation, not after
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model = load_model(checkpoint).to("cuda" if torch.cuda.is_available() else "cpu")  # generation is the cost
    todo = jobs(read_jsonl(data), split, aspects, model.config.prompts, image_root)
    if not todo:
        raise ValueError(f"{data}: no {split!r} records with critiques for aspects {aspects or 'any'}")
    results = {}
    for source in sources or [model.config.saliency]:
        model.config.saliency = source
        t0 = time.time()
        preds = generate(model, todo, out / f"predictions-{source}.jsonl", batch_size, max_new_tokens, log)
        results[source] = score(todo, preds, metrics)
        results[source]["generation_s"] = round(time.time() - t0, 1)
    result = {"checkpoint": checkpoint, "data": data, "split": split, "jobs": len(todo),
              "generation": {"batch_size": batch_size, "max_new_tokens": max_new_tokens, "greedy": True},
              "model_config": model.config.to_dict(), "results": results}
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    return result


def score(todo: list[dict], preds: dict, metrics) -> dict:
    from .caption_metrics import bootstrap_ci, score_captions

    s = score_captions({j["key"]: preds[j["key"]] for j in todo}, {j["key"]: j["references"] for j in todo},
                       metrics=metrics)
    return {"corpus": s["corpus"], "ci95": bootstrap_ci(s["per_image"], stats=s.get("stats")),
            "unavailable": s["unavailable"], "metric_config": s["config"], "per_image": s["per_image"],
            "stats": s.get("stats", {})}  # per-job BLEU/METEOR statistics: the paired bootstrap needs them


def table(result: dict) -> str:
    """Metrics as rows, saliency sources as columns."""
    res = result["results"]
    names = list(res)
    metrics = list(next(iter(res.values()))["corpus"])
    lines = [f"{'metric':<10}" + "".join(f"{n:>14}" for n in names)]
    for m in metrics:
        lines.append(f"{m:<10}" + "".join(f"{res[n]['corpus'][m]:>14.4f}" for n in names))
    for name, reason in next(iter(res.values()))["unavailable"].items():
        lines.append(f"{name:<10} unavailable: {reason}")
    return "\n".join(lines)
