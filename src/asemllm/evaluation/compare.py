"""Paired comparison of two systems scored on the same jobs: is a metric's difference real?

`paired_bootstrap(a, b)` takes two `run.score` results (per-job scores and statistics of the same
(photo, aspect) jobs against the same references) and resamples *photos* with replacement: a drawn
photo brings all its aspect jobs, for both systems at once. A photo's aspects share its content and
its reviewer, so they are not independent draws; resampling photos keeps that dependence inside each
draw, and pairing keeps the photo's difficulty out of the difference. On every resample each metric
is recomputed the way its corpus score is defined (see `caption_metrics.bootstrap_ci`):

* BLEU-1..4 and METEOR from the summed per-job statistics (corpus-level, not a mean of sentence scores);
* ROUGE-L and CIDEr-D as the mean of per-job scores (CIDEr-D keeps the document frequencies of the
  full set's references, which both systems share).

The result per metric: both corpus scores, their difference (a - b), its percentile interval, and a
two-sided p-value from the bootstrap distribution shifted to the null of no difference:
p = (1 + #{|d* - d| >= |d|}) / (1 + n).
"""

from __future__ import annotations

from collections.abc import Mapping

from .caption_metrics import METRIC_KEYS, _bleu_from_stats, _meteor_from_stats, _meteor_summable

CHUNK = 200  # resamples per block: bounds the (resamples x jobs) weight matrix


def photo_of(key: str) -> str:
    """A job key is '<photo id>|<aspect>'; the photo id may itself hold '|'."""
    return key.rsplit("|", 1)[0]


def paired_bootstrap(a: Mapping, b: Mapping, n: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Paired photo-level bootstrap of every metric both results hold; see the module docstring.

    `a` and `b` are `run.score` results ({"per_image", "stats", ...}) of the same jobs. Returns
    {"unit": "photo", "photos", "jobs", "resamples", "seed", "level",
     "metrics": {metric: {"a", "b", "difference", "ci", "p"}}}; a ValueError names the jobs that differ.
    """
    import numpy as np

    keys = _same_jobs(a["per_image"], b["per_image"])
    photos = {p: i for i, p in enumerate(dict.fromkeys(photo_of(k) for k in keys))}
    job_photo = np.array([photos[photo_of(k)] for k in keys])
    values = {s: _metric_rows(r, keys) for s, r in (("a", a), ("b", b))}
    metrics = [m for m in values["a"] if m in values["b"]]
    rng = np.random.default_rng(seed)
    draws = {m: [] for m in metrics}
    for start in range(0, n, CHUNK):
        idx = rng.integers(0, len(photos), size=(min(CHUNK, n - start), len(photos)))
        counts = np.stack([np.bincount(row, minlength=len(photos)) for row in idx]).astype(np.float64)
        weights = counts[:, job_photo]  # (resamples, jobs): how often each job is drawn
        for m in metrics:
            draws[m].append(_corpus(m, values["a"][m], weights) - _corpus(m, values["b"][m], weights))
    full = np.ones((1, len(keys)))
    out = {}
    for m in metrics:
        sa, sb = (float(_corpus(m, values[s][m], full)[0]) for s in ("a", "b"))
        out[m] = _summary(sa, sb, np.concatenate(draws[m]), level)
    return {"unit": "photo", "photos": len(photos), "jobs": len(keys), "resamples": n, "seed": seed,
            "level": level, "metrics": out}


def _same_jobs(pa: Mapping, pb: Mapping) -> list[str]:
    if set(pa) != set(pb):
        only_a, only_b = sorted(set(pa) - set(pb)), sorted(set(pb) - set(pa))
        raise ValueError(f"the two systems were scored on different jobs: {len(only_a)} only in the first "
                         f"{only_a[:3]}, {len(only_b)} only in the second {only_b[:3]}")
    if not pa:
        raise ValueError("no jobs to compare")
    return list(pa)


def _metric_rows(result: Mapping, keys: list[str]) -> dict:
    """metric -> what its corpus score is computed from, one row per job: ("bleu", k, stats),
    ("meteor", summable stats) or ("mean", scores). BLEU and METEOR without statistics fall back to
    the mean of per-job scores and are labelled so, as in `bootstrap_ci`."""
    import numpy as np

    per, stats = result["per_image"], result.get("stats") or {}
    out = {}
    for m in per[keys[0]]:
        if m in METRIC_KEYS["bleu"] and "bleu" in stats:
            out[m] = ("bleu", METRIC_KEYS["bleu"].index(m), np.array([stats["bleu"][k] for k in keys], float))
        elif m == "METEOR" and "meteor" in stats:
            out[m] = ("meteor", _meteor_summable(np.array([stats["meteor"][k] for k in keys], float)))
        else:
            label = m if m not in ("METEOR", *METRIC_KEYS["bleu"]) else f"{m} (mean of per-image)"
            out[label] = ("mean", np.array([per[k][m] for k in keys], float))
    return out


def _corpus(metric: str, spec: tuple, weights):
    """The metric on each weighted resample: weights (r, jobs) -> (r,)."""
    kind = spec[0]
    if kind == "bleu":
        return _bleu_from_stats(weights @ spec[2])[:, spec[1]]
    if kind == "meteor":
        return _meteor_from_stats(weights @ spec[1])
    return (weights @ spec[1]) / weights.sum(1)


def _summary(sa: float, sb: float, diffs, level: float) -> dict:
    import numpy as np

    d = sa - sb
    lo, hi = np.percentile(diffs, [50 * (1 - level), 100 - 50 * (1 - level)])
    tol = 1e-12 * max(1.0, abs(d))  # float noise of a recomputed difference is no evidence
    extreme = int(np.sum(np.abs(diffs - d) >= abs(d) - tol))
    return {"a": sa, "b": sb, "difference": d, "ci": [float(lo), float(hi)],
            "p": (1 + extreme) / (1 + len(diffs))}


def holds(entry: Mapping, alpha: float = 0.05) -> bool:
    """Whether a compared metric's difference holds at `alpha` (two-sided paired bootstrap)."""
    return entry["p"] < alpha
