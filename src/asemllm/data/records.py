"""The one record schema every critique dataset is read into, and its JSON-lines form.

A record is one photo of one split with its critiques grouped by aspect. PCCD has seven aspects
per photo; datasets whose comments are not divided by aspect put every comment under `OVERALL`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

ASPECTS = ("general_impression", "subject_of_photo", "composition", "use_of_camera",
           "depth_of_field", "color_lighting", "focus")  # PCCD's seven aspects, in its score order
OVERALL = "overall"  # the aspect key used for datasets with one undivided critique per comment
SPLITS = ("train", "validation", "test")

# Names the datasets use for their splits; Karpathy-style files call extra training images "restval".
_SPLIT_NAMES = {"train": "train", "training": "train", "restval": "train",
                "val": "validation", "valid": "validation", "validation": "validation", "dev": "validation",
                "test": "test", "testing": "test"}


@dataclass
class CritiqueRecord:
    id: str
    image: str                       # path as given by the dataset (absolute, or relative to the dataset root)
    split: str                       # "train" | "validation" | "test"
    critiques: dict[str, list[str]]  # aspect -> non-empty critique texts (stripped)
    scores: dict[str, float] = field(default_factory=dict)  # optional numeric scores (aspect or "overall")
    meta: dict = field(default_factory=dict)                # anything else worth keeping (category, ...)


def normalize_split(name) -> str | None:
    """'val', 'dev', 'restval', ... -> one of SPLITS; None for anything else."""
    return _SPLIT_NAMES.get(str(name).strip().lower()) if name is not None else None


def aspect_order(aspects: Iterable[str]) -> list[str]:
    """PCCD's aspects first in their own order, then 'overall', then any others alphabetically."""
    known = ASPECTS + (OVERALL,)
    aspects = set(aspects)
    return [a for a in known if a in aspects] + sorted(aspects - set(known))


def record_from_dict(obj: dict) -> CritiqueRecord:
    """A record from its JSON object; ValueError (saying what is wrong) for anything off-schema."""
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in ("id", "image", "split", "critiques") if k not in obj]
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    unknown = set(obj) - {"id", "image", "split", "critiques", "scores", "meta"}
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    if obj["split"] not in SPLITS:
        raise ValueError(f"split {obj['split']!r} is not one of {', '.join(SPLITS)}")
    crit = obj["critiques"]
    if not isinstance(crit, dict) or not all(
            isinstance(v, list) and all(isinstance(t, str) for t in v) for v in crit.values()):
        raise ValueError("critiques must map aspect -> list of strings")
    return CritiqueRecord(id=str(obj["id"]), image=str(obj["image"]), split=obj["split"], critiques=crit,
                          scores=dict(obj.get("scores") or {}), meta=dict(obj.get("meta") or {}))


def write_jsonl(records: Iterable[CritiqueRecord], path) -> int:
    """Write one JSON object per line (UTF-8, not ASCII-escaped); returns the number written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for r in records:
            f.write(json.dumps(asdict(r), ensure_ascii=False) + "\n")
            n += 1
    return n


def iter_jsonl(path) -> Iterator[tuple[int, CritiqueRecord | None, str | None]]:
    """(line number, record, None) per good line and (line number, None, reason) per bad one."""
    with Path(path).open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                yield n, record_from_dict(json.loads(line)), None
            except (ValueError, TypeError) as e:  # json.JSONDecodeError is a ValueError
                yield n, None, str(e)


def read_jsonl(path) -> list[CritiqueRecord]:
    """Every record of a file written by write_jsonl; ValueError naming file and line on a bad one."""
    out = []
    for n, rec, err in iter_jsonl(path):
        if err:
            raise ValueError(f"{path}:{n}: {err}")
        out.append(rec)
    return out
