"""The saliency evaluation report: NUS validation and the SALICON examples, all models, one JSON."""

from __future__ import annotations

from pathlib import Path


def run_eval(root: str, weights: str = "bundled", max_side: int = 512, log=None) -> dict:
    from .baselines import CentreBias
    from .datasets import read_fixations
    from .evaluate import MapMakers, evaluate_set, gap_closed

    root = Path(root)
    train = read_fixations("nus", root / "nus_scene", split="train")
    centre = CentreBias.fit(train.records)  # fitted on training fixations only
    makers = MapMakers(centre, weights=weights)
    out = {"protocol": {"max_side": max_side, "centre_bias": "Gaussian fitted on NUS 001-400 fixations",
                        "shuffled_auc_negatives": "fixations of the other photos of the same set",
                        "information_gain_baseline": "centre_bias", "bootstrap": "1000 resamples, 95%",
                        "weights": weights}}
    for name, fmt, folder, split in (("nus_val", "nus", "nus_scene", "val"),
                                     ("salicon_examples", "salicon", "salicon_examples", None)):
        data = read_fixations(fmt, root / folder, split=split)
        res = evaluate_set(data.records, fmt, makers, centre, max_side=max_side, log=log)
        res["skipped"] += [{"image": str(i), "reason": r} for i, r in data.skipped]
        if "iasm" in res["loo"] and "humans" in res["loo"]:
            res["gap_closed"] = gap_closed(res["loo"])
        out[name] = res
    return out
