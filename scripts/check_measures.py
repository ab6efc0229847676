"""Prove each measurement family on real photos: its controlled edits read, its false alarms counted.

For every family in asemllm.critic.measures (or those given), on NUS 401-500 and the shared photos:
- each `EditCheck`: on the photos it applies to, the share where the measurement moved as it should
  (`reads`) and where the teacher then states one of its claims;
- each problem rule of the family: the share of the untouched photos where it fires (false alarms,
  if the untouched photos are taken as free of the fault; a share, not a proof either way);
- each other rule: the share of the untouched photos it is said of (`holds_untouched`).

    .venv/bin/python scripts/check_measures.py --family light > runs/check-light.json
    .venv/bin/python scripts/check_measures.py --limit 20      # quick: the first 20 photos of each set
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("light", "framing", "lines", "motion", "processing", "harmony", "settings")


def check_photos(root: Path, limit: int | None):
    """NUS 401-500 and the shared photos (mate, lomiri, misc, scikit-image's), at most `limit` of each."""
    from asemllm.critic.dataset import SKIMAGE_TRAIN, Photo, evaluation_photos

    shared = []
    for sub in ("mate", "lomiri_20.04", "misc"):
        shared += [Photo(f"{sub}-{p.stem}", str(p)) for p in sorted((root / "photos" / sub).iterdir())
                   if p.suffix.lower() in (".jpg", ".jpeg", ".png")]
    shared += [Photo(f"skimage-{n}", f"skimage:{n}") for n in (*SKIMAGE_TRAIN, "astronaut")]
    nus = evaluation_photos(root)
    return (nus[:limit] if limit else nus) + (shared[:limit] if limit else shared)


def run(families: list[str], root: Path, limit: int | None, seed: int = 0) -> dict:
    import importlib

    from asemllm.critic.attributes import measure
    from asemllm.critic.attributes import _iasm as iasm
    from asemllm.critic.dataset import open_photo
    from asemllm.critic.teacher import RULES_BY_ID, values
    from asemllm.saliency.predict import predict_maps

    modules = {f: importlib.import_module(f"asemllm.critic.measures.{f}") for f in families}
    report = {f: {"edits": {}, "false_alarms": {}, "holds_untouched": {}} for f in families}
    counts = {}  # (family, edit) -> [applied, read, stated]
    fired = {}   # (family, rule) -> holds on untouched photos
    photos = check_photos(root, limit)
    for k, photo in enumerate(photos):
        image = open_photo(photo, side=1024)
        (sal,) = predict_maps(iasm(), [image], [(image.height, image.width)])
        before = values(measure(image, saliency=sal))
        for f, mod in modules.items():
            for rule in mod.RULES:
                fired[(f, rule.id)] = fired.get((f, rule.id), 0) + rule.holds(before)
            for check in getattr(mod, "CHECKS", ()):
                if check.applies is not None and not check.applies(before):
                    continue
                rng = random.Random(f"{seed}-{photo.id}-{check.name}")
                after = values(measure(check.apply(image, sal, rng)))
                c = counts.setdefault((f, check.name), [0, 0, 0])
                c[0] += 1
                c[1] += bool(check.reads(before, after))
                c[2] += any(RULES_BY_ID[r].holds(after) for r in check.claims)
        print(f"{k + 1}/{len(photos)} {photo.id}", file=sys.stderr)
    for (f, name), (n, read, stated) in counts.items():
        report[f]["edits"][name] = {"photos": n, "read": read / n, "stated": stated / n}
    for (f, rid), n in fired.items():
        key = "false_alarms" if RULES_BY_ID[rid].problem else "holds_untouched"
        report[f][key][rid] = n / len(photos)
    return {"photos": len(photos), "families": report}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--family", action="append", choices=FAMILIES, help="a family to check (repeatable; default all)")
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="the shared data folder")
    ap.add_argument("--limit", type=int, default=None, help="at most this many photos of each set")
    args = ap.parse_args(argv)
    result = run(args.family or list(FAMILIES), Path(args.data), args.limit)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
