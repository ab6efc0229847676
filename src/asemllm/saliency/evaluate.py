"""`asemllm saliency eval`: the trained IASM and every baseline, scored by the same code.

Protocol (also stated in docs/MODEL_CARD.md, "The saliency module (IASM)", and in the JSON):
- maps and fixations at the photo's own frame, scaled so that its longer side is at most
  `max_side` px (512 by default: AUC and blur costs stay small; fixations scale with the pixels);
- ground truth: all observers' fixations (binary map) and their density (Gaussian of about one
  degree of visual angle, `density.sigma_for`);
- shuffled AUC: negatives are the pooled fixations of the other photos of the same set;
- information gain against the centre-bias baseline;
- per-metric mean over photos with a 95% bootstrap interval (1000 resamples of photos);
- leave-one-observer-out: each observer's fixations scored (NSS, AUC-Judd) against a map, and
  against the other observers' density (the human ceiling); averaged over observers, then photos.
"""

from __future__ import annotations

import numpy as np

MODELS = ("iasm", "iasm_faces", "centre_bias", "spectral_residual", "img_focus")


def eval_frame(size: tuple[int, int], max_side: int) -> tuple[int, int]:
    h, w = size
    r = min(1.0, max_side / max(h, w))
    return max(1, round(h * r)), max(1, round(w * r))


def scaled_points(record, shape) -> np.ndarray:
    from .density import resize_points

    return resize_points(record.points, record.size, shape)


def bootstrap(values, n: int = 1000, seed: int = 0) -> dict:
    v = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = v[rng.integers(0, len(v), (n, len(v)))].mean(1)
    lo, hi = np.percentile(means, [2.5, 97.5])
    return {"mean": round(float(v.mean()), 4), "ci95": [round(float(lo), 4), round(float(hi), 4)], "n": len(v)}


class MapMakers:
    """Every model's map for one photo at a given shape."""

    def __init__(self, centre, weights: str = "bundled", models=MODELS):
        from .baselines import ImgFocus, spectral_residual
        from .predict import load_iasm, predict_maps

        self.fns = {}
        if "iasm" in models or "iasm_faces" in models:
            iasm = load_iasm(weights)
        if "iasm" in models:  # the IASM alone: the paper's module, as trained
            self.fns["iasm"] = lambda photo, shape: predict_maps(iasm, [photo], [shape], faces=False)[0]
        if "iasm_faces" in models:  # with the face prior: the map the critic measures from
            self.fns["iasm_faces"] = lambda photo, shape: predict_maps(iasm, [photo], [shape])[0]
        if "centre_bias" in models:
            self.fns["centre_bias"] = lambda photo, shape: centre(shape)
        if "spectral_residual" in models:
            self.fns["spectral_residual"] = spectral_residual
        if "img_focus" in models:
            focus = ImgFocus()
            self.fns["img_focus"] = focus

    def __call__(self, photo, shape) -> dict[str, np.ndarray]:
        return {name: fn(photo, shape) for name, fn in self.fns.items()}


def evaluate_set(records, fmt: str, makers: MapMakers, centre, max_side: int = 512, log=None) -> dict:
    """-> {"models": {name: {metric: {mean, ci95, n}}}, "loo": {...}, "skipped": [...]}"""
    from ..images import load_image
    from .density import density_map, sigma_for
    from .metrics import all_metrics

    per = {name: {} for name in makers.fns}
    loo = {name: {"nss": [], "auc_judd": []} for name in [*makers.fns, "humans"]}
    skipped = []
    for i, r in enumerate(records):
        try:
            photo = load_image(r.image)
        except ValueError as e:
            skipped.append({"image": str(r.image), "reason": str(e)})
            continue
        shape = eval_frame(r.size, max_side)
        pts = scaled_points(r, shape)
        sigma = sigma_for(fmt, r.size) * shape[0] / r.size[0]
        fix, dens = _fix(pts, shape), density_map(pts, shape, sigma)
        others = _fix(np.concatenate([scaled_points(o, shape) for o in records if o is not r]), shape)
        maps = makers(photo, shape)
        base = centre(shape)
        for name, m in maps.items():
            for k, v in all_metrics(m, fix, dens, other_fix=others, baseline=base).items():
                per[name].setdefault(k, []).append(v)
        _loo(r, pts, shape, sigma, maps, loo)
        if log:
            log(f"{i + 1}/{len(records)} {r.id}")
    return {"models": {n: {k: bootstrap(v) for k, v in ms.items()} for n, ms in per.items()},
            "loo": {n: {k: bootstrap(v) for k, v in ms.items()} for n, ms in loo.items() if ms["nss"]},
            "skipped": skipped, "photos": len(records) - len(skipped)}


def _fix(pts: np.ndarray, shape) -> np.ndarray:
    """Corner-origin points (pixel = floor) -> binary map; fixation_map takes pixel centres."""
    from .metrics import fixation_map

    return fixation_map(np.clip(pts - 0.5, 0, [shape[1] - 1, shape[0] - 1]), shape)


def _loo(record, pts, shape, sigma, maps, acc) -> None:
    """Each observer's fixations vs each map and vs the other observers' density; photo means."""
    from .density import density_map
    from .metrics import auc_judd, nss

    ids = np.unique(record.observers)
    if len(ids) < 2:
        return
    scores = {name: {"nss": [], "auc_judd": []} for name in acc}
    for o in ids:
        mine = record.observers == o
        fix_o = _fix(pts[mine], shape)
        candidates = {**maps, "humans": density_map(pts[~mine], shape, sigma)}
        for name, m in candidates.items():
            scores[name]["nss"].append(nss(m, fix_o))
            scores[name]["auc_judd"].append(auc_judd(m, fix_o))
    for name, s in scores.items():
        for k, v in s.items():
            acc[name][k].append(float(np.mean(v)))


def gap_closed(loo: dict, model: str = "iasm") -> dict:
    """(model - centre bias) / (humans - centre bias) for NSS and AUC-Judd, leave-one-observer-out."""
    out = {}
    for k in ("nss", "auc_judd"):
        c, h, m = (loo[n][k]["mean"] for n in ("centre_bias", "humans", model))
        out[k] = round((m - c) / (h - c), 3) if h != c else None
    return out
