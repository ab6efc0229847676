"""Bookkeeping report on a critique dataset: records, critiques, photos, gaps and repeats per split.

`check(format, root)` reads a dataset and returns one JSON-serialisable dict (the
`asemllm data check --json` output); `convert_to_jsonl` also writes <split>.jsonl files and returns
the same dict. The report never fails on the data: a missing photo, a zero-byte or corrupt one, an
empty critique or an unreadable entry is counted, not raised.

Report keys: format, root, photos_root, aspects, splits, cross_split, issues, issue_examples
(and `written` from convert_to_jsonl). `splits` holds one dict per split present, in the order
train, validation, test, with:
  records              records of the split
  critiques            critique texts in all (per aspect in critiques_per_aspect)
  photos_found / photos_missing / photos_unreadable
                       distinct photos of the split (so they add up to records - duplicates):
                       missing = no file at the path; unreadable = a file that is empty, not a
                       regular file, or that PIL cannot open and verify (`Image.verify()` checks
                       the header and structure without decoding every pixel)
  empty_critiques      (record, aspect) slots left empty, over the dataset's aspects (`aspects`:
                       PCCD's seven for PCCD, else every aspect seen in the dataset - ["overall"]
                       for the undivided ones, where readers drop records with no text at all, so
                       this is 0 there and such records are issues instead)
  duplicates           records whose photo path was already listed earlier in the same split
  repeated_texts       critique texts repeated within one record (extra copies, any aspects):
                       reviewers' "Spot on." under two aspects of one photo, not necessarily an error
  missing_examples / unreadable_examples
                       up to 20 photo paths each
cross_split = number of distinct photo paths listed in more than one split (a leak between splits).
issues = number of entries the reader skipped or flagged; issue_examples = the first 20 as
[id or file, reason].

Photo paths are resolved against `photos_root` (default: the dataset root, or the folder of a root
file): absolute paths as they are, relative ones as photos_root/path, then photos_root/<file name>
so that a folder holding the photos themselves also works.
"""

from __future__ import annotations

import stat
from collections import Counter
from pathlib import Path

from .convert import Converted, read_dataset
from .records import SPLITS, CritiqueRecord, aspect_order, write_jsonl

EXAMPLES = 20


def check(format: str, root, photos_root=None, verify: bool = True) -> dict:
    """Read the dataset and report on it (see the module docstring for every key)."""
    return report(read_dataset(format, root), photos_root, verify)


def convert_to_jsonl(format: str, root, out_dir, photos_root=None, verify: bool = True) -> dict:
    """Write out_dir/<split>.jsonl for each split present; return the check report plus `written`
    (split -> path)."""
    conv = read_dataset(format, root)
    written = {}
    for split, recs in by_split(conv.records).items():
        path = Path(out_dir) / f"{split}.jsonl"
        write_jsonl(recs, path)
        written[split] = str(path)
    return {**report(conv, photos_root, verify), "written": written}


def by_split(records: list[CritiqueRecord]) -> dict[str, list[CritiqueRecord]]:
    """Records grouped by split, splits in the order of SPLITS, only those present."""
    groups = {s: [r for r in records if r.split == s] for s in SPLITS}
    return {s: recs for s, recs in groups.items() if recs}


def report(conv: Converted, photos_root=None, verify: bool = True) -> dict:
    root = Path(conv.root)
    base = Path(photos_root) if photos_root else (root.parent if root.is_file() else root)
    groups = by_split(conv.records)
    return {"format": conv.format, "root": conv.root, "photos_root": str(base), "aspects": list(conv.aspects),
            "splits": {s: split_report(recs, conv.aspects, base, verify) for s, recs in groups.items()},
            "cross_split": cross_split(groups),
            "issues": len(conv.issues), "issue_examples": [list(i) for i in conv.issues[:EXAMPLES]]}


def split_report(recs: list[CritiqueRecord], aspects, base: Path, verify: bool = True) -> dict:
    images = list(dict.fromkeys(r.image for r in recs))  # distinct, in order
    status = {im: photo_status(resolve_photo(base, im), verify) for im in images}
    per_aspect = Counter()
    for r in recs:
        per_aspect.update({a: len(t) for a, t in r.critiques.items()})
    texts = [[t for ts in r.critiques.values() for t in ts] for r in recs]
    return {
        "records": len(recs),
        "critiques": sum(per_aspect.values()),
        "critiques_per_aspect": {a: per_aspect[a] for a in aspect_order(per_aspect)},
        "photos_found": sum(s == "found" for s in status.values()),
        "photos_missing": sum(s == "missing" for s in status.values()),
        "photos_unreadable": sum(s == "unreadable" for s in status.values()),
        "empty_critiques": sum(1 for r in recs for a in aspects if not r.critiques.get(a)),
        "duplicates": len(recs) - len(images),
        "repeated_texts": sum(len(t) - len(set(t)) for t in texts),
        "missing_examples": [str(resolve_photo(base, im)) for im in images if status[im] == "missing"][:EXAMPLES],
        "unreadable_examples": [str(resolve_photo(base, im)) for im in images
                                if status[im] == "unreadable"][:EXAMPLES],
    }


def cross_split(groups: dict[str, list[CritiqueRecord]]) -> int:
    """Distinct photo paths listed in more than one split."""
    seen = Counter(im for recs in groups.values() for im in {r.image for r in recs})
    return sum(n > 1 for n in seen.values())


def resolve_photo(base: Path, image: str) -> Path:
    p = Path(image)
    if p.is_absolute():
        return p
    first, by_name = base / p, base / p.name
    if len(p.parts) > 1 and not _lexists(first) and _lexists(by_name):
        return by_name
    return first


def _lexists(p: Path) -> bool:
    try:
        return p.exists() or p.is_symlink()
    except OSError:
        return False


def photo_status(path: Path, verify: bool = True) -> str:
    """'found', 'missing' (nothing there, or a dangling link) or 'unreadable'."""
    try:
        st = path.stat()
    except OSError:  # absent, a dangling link, or a name the file system cannot hold
        return "missing"
    if not stat.S_ISREG(st.st_mode) or st.st_size == 0:
        return "unreadable"
    if not verify:
        return "found"
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()
    except Exception:  # PIL signals a bad file with many types (OSError, SyntaxError, struct.error, ...)
        return "unreadable"
    return "found"


def format_table(rep: dict) -> str:
    """The report as a short readable table (what `asemllm data check` prints without --json)."""
    cols = ("records", "critiques", "photos_found", "photos_missing", "photos_unreadable",
            "empty_critiques", "duplicates", "repeated_texts")
    heads = ("records", "critiques", "found", "missing", "unreadable", "empty", "dup", "rep.text")
    lines = [f"{rep['format']} at {rep['root']} (photos under {rep['photos_root']})",
             f"{'split':<11}" + "".join(f"{h:>11}" for h in heads)]
    for split, s in rep["splits"].items():
        lines.append(f"{split:<11}" + "".join(f"{s[c]:>11}" for c in cols))
    lines.append(f"aspects: {', '.join(rep['aspects'])}")
    lines.append(f"photos in more than one split: {rep['cross_split']}; reader issues: {rep['issues']}")
    for split, s in rep["splits"].items():
        for kind in ("missing", "unreadable"):
            if s[f"{kind}_examples"]:
                lines.append(f"{split} {kind}, e.g. {s[f'{kind}_examples'][0]}")
    lines += [f"issue: {where}: {why}" for where, why in rep["issue_examples"][:5]]
    return "\n".join(lines)
