"""How often the critique names its subject right: precision and coverage per confidence threshold.

On the photos labelled in tests/critic/subjects.json (NUS 401-500 and the shared photos; each with the
names a viewer accepts for its subject, or "none"), the subject region is classified as the critic
does it (`asemllm.critic.content`), and two ways of naming it are scored at each threshold:
- "top1": ImageNet's top class by its own name ("brambling", "shoji") when its probability >= t;
- "coarse": the coarse group name ("bird", "building") when the group's summed probability >= t
  (`content.coarse_name`: the groups written down in `content.GROUPS` and `BROAD`).
A name is right when it is one of the photo's accepted names (a plural "s" aside); any name given to
a "none" photo is wrong. precision = right / named; coverage = named / photos.

    .venv/bin/python scripts/subject_naming.py > runs/subject-naming.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "critic" / "subjects.json"
THRESHOLDS = (0.2, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def labelled(root: Path) -> list[tuple[object, object]]:
    """[(Photo, accepted names or "none")] for the labelled check photos found under `root`."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from check_measures import check_photos

    labels = json.loads(LABELS.read_text())["photos"]
    return [(p, labels[p.id]) for p in check_photos(root, None) if p.id in labels]


def right(name: str | None, accepted) -> bool:
    if name is None or accepted == "none":
        return False
    name = name.lower()
    names = {a.lower() for a in accepted}
    return name in names or name + "s" in names or name.rstrip("s") in names


def probabilities(photos) -> list:
    """Each photo's class probabilities over its subject region, as the critic computes them."""
    import torch

    from asemllm.critic.content import class_probabilities
    from asemllm.critic.dataset import open_photo
    from asemllm.images import load_image
    from asemllm.saliency.predict import load_iasm, predict_maps

    iasm = load_iasm()
    out = []
    for p in photos:
        image = open_photo(p, side=10 ** 6) if p.source.startswith("skimage:") else load_image(p.source)
        (sal,) = predict_maps(iasm, [image], [(image.height, image.width)])
        probs, _ = class_probabilities([image], [sal])
        out.append(probs[0].to(torch.float64).numpy())
    return out


def score(rows, names_at) -> list[dict]:
    """rows: [(accepted, probs)]; names_at(probs, t) -> name or None."""
    table = []
    for t in THRESHOLDS:
        named = [(names_at(p, t), acc) for acc, p in rows]
        given = [(n, acc) for n, acc in named if n is not None]
        ok = sum(right(n, acc) for n, acc in given)
        table.append({"threshold": t, "named": len(given), "right": ok,
                      "precision": round(ok / len(given), 3) if given else None,
                      "coverage": round(len(given) / len(rows), 3)})
    return table


def evaluate(root: Path) -> dict:
    import numpy as np

    from asemllm.critic.content import MIN_CONFIDENCE, class_names, coarse_name

    pairs = labelled(root)
    probs = probabilities([p for p, _ in pairs])
    rows = [(acc, pr) for (_, acc), pr in zip(pairs, probs)]
    names = class_names()

    def top1(p, t):
        k = int(np.argmax(p))
        return names[k] if p[k] >= t else None

    def coarse(p, t):
        n, sure = coarse_name(p, t)
        return n if sure >= t else None

    per_photo = {p.id: {"accepted": acc, "top1": top1(pr, 0.0), "coarse": coarse_name(pr)[0],
                        "coarse_p": round(coarse_name(pr)[1], 3)} for (p, acc), pr in zip(pairs, probs)}
    return {"photos": len(rows), "with_a_subject": sum(acc != "none" for acc, _ in rows),
            "chosen": {"rule": "coarse", "threshold": MIN_CONFIDENCE},
            "top1": score(rows, top1), "coarse": score(rows, coarse), "per_photo": per_photo}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(ROOT.parent / "shared" / "data"), help="the shared data folder")
    args = ap.parse_args(argv)
    print(json.dumps(evaluate(Path(args.data)), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
