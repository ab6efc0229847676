"""Readers that turn each aesthetic-critique benchmark's own files into CritiqueRecords.

`read_dataset(format, root)` returns a `Converted`: the records, the aspects a record of that
dataset can have, and one (id or file, reason) issue per entry that had to be skipped or that looks
inconsistent. A bad entry or an unreadable file never stops a read: it is counted and skipped. Only
a root that does not exist (FileNotFoundError) or that holds none of the format's files
(ValueError) raises, and both messages name the root.

Records with no critique text at all are not kept (they cannot be trained or scored on); each is an
issue "no critique text". Each reader's docstring lists the exact field names it assumes and where
they are known from. Only PCCD's real files were available to check against; the other readers are
written from the datasets' published code and READMEs and accept the common variants.
"""

from __future__ import annotations

import ast
import csv
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from .records import (ASPECTS, OVERALL, SPLITS, CritiqueRecord, aspect_order, iter_jsonl,
                      normalize_split)

FORMATS = ("pccd", "dpc2022", "ava-captions", "dpc-captions", "rpcd", "jsonl", "csv")

# Keys under which the datasets keep a comment's text when a comment is an object, tried in order.
TEXT_KEYS = ("raw", "text", "comment", "clean_comment", "caption", "sentence", "body", "comment_body")

# DPC-Captions groups its comments into five attributes (Jin et al., ACM MM 2019, built from PCCD's
# seven). Each maps onto the nearest PCCD aspect: "depth_and_focus" -> depth_of_field (DPC-Captions
# keys it on PCCD's depth-of-field keywords: depth, field, focus, background, aperture) and
# "impression_and_subject" -> general_impression (the broader of the two it merges).
DPC_ATTRIBUTES = {"color_lighting": "color_lighting", "composition": "composition",
                  "depth_and_focus": "depth_of_field", "impression_and_subject": "general_impression",
                  "use_of_camera": "use_of_camera"}

# Reddit's placeholders for comments that no longer exist: not critiques.
_REDDIT_GONE = {"[deleted]", "[removed]"}


@dataclass
class Converted:
    format: str
    root: str
    records: list[CritiqueRecord] = field(default_factory=list)
    issues: list[tuple[str, str]] = field(default_factory=list)
    aspects: tuple[str, ...] = ()  # the aspects every record of this dataset could have

    def issue(self, where, reason: str) -> None:
        self.issues.append((str(where), reason))

    def add(self, rec: CritiqueRecord | None) -> None:
        """Keep a record that has at least one critique; count the rest."""
        if rec is None:
            return
        if any(rec.critiques.values()):
            self.records.append(rec)
        else:
            self.issue(rec.id, "no critique text")


def read_dataset(format: str, root) -> Converted:
    """Read the dataset of `format` (one of FORMATS) found at `root` (a folder, or a file where the
    format allows one)."""
    root = Path(root)
    if format not in _READERS:
        raise ValueError(f"unknown dataset format {format!r}: expected one of {', '.join(FORMATS)}")
    if not root.exists():
        raise FileNotFoundError(f"dataset root {root} does not exist")
    conv = Converted(format, str(root))
    _READERS[format](root, conv)
    if not conv.aspects:
        conv.aspects = tuple(aspect_order(a for r in conv.records for a in r.critiques))
    return conv


# ---------------------------------------------------------------- shared helpers


def _text_of(item) -> str | None:
    """The text of one comment: a string, or an object holding it under one of TEXT_KEYS (nested
    objects are followed, as in DPC2022's score_comments[i]["comment"]["comment"])."""
    if isinstance(item, str):
        return item
    if isinstance(item, dict):
        for key in TEXT_KEYS:
            if key in item:
                return _text_of(item[key])
    return None


def _texts(value) -> list[str]:
    """Stripped non-empty texts from a string, a comment object, or a list of either."""
    items = value if isinstance(value, list) else [value]
    texts = (_text_of(v) for v in items)
    return [t.strip() for t in texts if t and t.strip()]


def _load_json(path: Path, conv: Converted):
    """The parsed file, or None with an issue when it cannot be read or parsed."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as e:
        conv.issue(path, f"unreadable JSON: {e}")
        return None


def _split_from_name(stem: str) -> str | None:
    """The split a file name names ('guru_test', 'processed_validation', 'captions_val2014')."""
    for token in re.split(r"[^a-z]+", stem.lower()):
        if normalize_split(token):
            return normalize_split(token)
    return None


def _files(root: Path, pattern: str, what: str) -> list[Path]:
    """`root` itself when it is a file, else its files matching `pattern`; none -> ValueError."""
    files = [root] if root.is_file() else sorted(p for p in root.glob(pattern) if p.is_file())
    if not files:
        raise ValueError(f"no {what} files ({pattern}) in {root}")
    return files


def _number(value) -> float | None:
    """A float from a number or numeric string; None for anything else (booleans included)."""
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _scalars(entry: dict, skip) -> dict:
    """The entry's plain scalar fields, for meta (lists and objects would bloat every record)."""
    return {k: v for k, v in entry.items()
            if k not in skip and (v is None or isinstance(v, (str, int, float, bool)))}


def _first(entry: dict, keys) -> object:
    return next((entry[k] for k in keys if entry.get(k) not in (None, "")), None)


# ---------------------------------------------------------------- PCCD


def read_pccd(root: Path, conv: Converted) -> None:
    """PCCD (Chang et al., ICCV 2017) as released in guru_{train,validation,test}.json.

    Each file is a JSON list of objects with `title`, `category`, the seven aspect fields of ASPECTS
    (a string; empty or missing when the reviewer skipped that aspect), `score`, `overall`,
    `description`, `photographer`, `reviewer`, `site`, `image_url` (checked on the real validation
    and test files). `score` holds seven strings in the order of ASPECTS, "N" = none; it is a JSON
    list in the released files and a string like "['8', '10', 'N', ...]" in some copies: both are
    read. The order was verified on the 1,271 real validation+test records: it is the only one of
    the 5,040 orderings of the seven aspects under which "N" falls exactly where the critique is
    empty (and it is the order Aestheval's PCCD loader uses). `overall` is the mean of the seven,
    to one decimal. Photo: images/full/<title>.jpg under the root; id = title; every other field
    goes to meta.
    """
    present = [(s, root / f"guru_{s}.json") for s in SPLITS if (root / f"guru_{s}.json").is_file()]
    if not present:
        raise ValueError(f"no PCCD files (guru_train.json, guru_validation.json, guru_test.json) in {root}")
    conv.aspects = ASPECTS
    for split, path in present:
        data = _load_json(path, conv)
        if data is not None and not isinstance(data, list):
            conv.issue(path, f"expected a JSON list of records, got {type(data).__name__}")
            continue
        for i, entry in enumerate(data or []):
            conv.add(_pccd_record(entry, split, f"{path.name}[{i}]", conv))


def _pccd_record(entry, split: str, where: str, conv: Converted) -> CritiqueRecord | None:
    if not isinstance(entry, dict):
        conv.issue(where, "not a JSON object")
        return None
    title = entry.get("title")
    if not isinstance(title, str) or not title.strip():
        conv.issue(where, "no title")
        return None
    critiques = {}
    for a in ASPECTS:
        value = entry.get(a)
        if value is not None and not isinstance(value, (str, list)):
            conv.issue(title, f"{a}: expected text, got {type(value).__name__}")
        if _texts(value):
            critiques[a] = _texts(value)
    scores = _pccd_scores(entry, title, conv)
    _pccd_cross_check(entry, critiques, title, conv)
    meta = {k: v for k, v in entry.items() if k not in ASPECTS + ("title", "score", "overall")}
    return CritiqueRecord(title, f"images/full/{title}.jpg", split, critiques, scores, meta)


def _pccd_score_list(raw) -> list | None:
    """The seven score strings from a list or from its string form "['8', 'N', ...]"."""
    if isinstance(raw, str):
        try:
            raw = ast.literal_eval(raw)  # literals only: safe on untrusted text
        except (ValueError, SyntaxError):
            raw = re.findall(r"[^\s,'\"\[\]]+", raw)
    return list(raw) if isinstance(raw, (list, tuple)) and len(raw) == len(ASPECTS) else None


def _pccd_scores(entry: dict, title: str, conv: Converted) -> dict[str, float]:
    scores = {}
    raw = entry.get("score")
    values = _pccd_score_list(raw)
    if raw is not None and values is None:
        conv.issue(title, f"score: expected {len(ASPECTS)} values, got {raw!r}")
    for a, v in zip(ASPECTS, values or []):
        if str(v).strip().upper() in ("N", ""):
            continue
        if _number(v) is None:
            conv.issue(title, f"score for {a}: not a number: {v!r}")
        else:
            scores[a] = _number(v)
    overall = entry.get("overall")
    if overall not in (None, "", "N") and _number(overall) is None:
        conv.issue(title, f"overall: not a number: {overall!r}")
    elif _number(overall) is not None:
        scores[OVERALL] = _number(overall)
    return scores


def _pccd_cross_check(entry: dict, critiques: dict, title: str, conv: Converted) -> None:
    """A critique with score "N", or a score with no critique, means the score order or the entry is off."""
    values = _pccd_score_list(entry.get("score"))
    for a, v in zip(ASPECTS, values or []):
        if (a in critiques) == (str(v).strip().upper() in ("N", "")):
            conv.issue(title, f"{a}: critique {'present' if a in critiques else 'empty'} but score {v!r}")


# ---------------------------------------------------------------- DPC2022 (ARIC)

# Where the DPC2022 release keeps its files (ARIC's config.py: DPC2022/anotation/clean_and_all_score,
# DPC2022/anotation/train/train.csv, DPC2022/anotation/test_and_val/{val,test}.csv; note "anotation").
_DPC2022_JSON_DIRS = ("anotation/clean_and_all_score", "annotation/clean_and_all_score",
                      "clean_and_all_score", "json", ".")
_DPC2022_CSV_DIRS = (".", "splits", "anotation", "annotation", "anotation/train", "annotation/train",
                     "anotation/test_and_val", "annotation/test_and_val")
_SPLIT_CSVS = (("train.csv", "train"), ("val.csv", "validation"), ("validation.csv", "validation"),
               ("test.csv", "test"))
_ID_COLUMNS = ("id", "image_id", "im_id", "imgid", "image")


def read_dpc2022(root: Path, conv: Converted) -> None:
    """DPC2022, the dataset of ARIC (Zhong et al., AAAI 2023): one <ID>.json per photo.

    From ARIC's README and data.py: each json has `ID`, `avg_all_users_score` (the aesthetic
    score), `raw_comments`, `clean_comments` (comments split into sentences, emoji and odd symbols
    removed) and `score_comments` (labelled sentences, text at ["comment"]["comment"]). Texts are
    taken from `clean_comments`, else `score_comments`, else `raw_comments`; items may be strings
    or objects holding the text under one of TEXT_KEYS (both forms are read). Which source was used
    is kept in meta["comment_source"]; other scalar fields go to meta. Aspect = overall; score
    "overall" = avg_all_users_score.

    Splits come from train.csv, val.csv or validation.csv and test.csv (an id column named ID, id,
    image_id, im_id or imgid; a row per photo, or per comment - repeated ids count once) found in
    the root, splits/, or ARIC's anotation/{train,test_and_val}/. Only photos listed there are read;
    a listed id without its json is an issue. Jsons are looked up in anotation/clean_and_all_score/,
    clean_and_all_score/, json/ or the root. Photo: img_256x256/<ID>.jpg under the root.
    """
    csvs = _dpc2022_split_csvs(root)
    if not csvs:
        raise ValueError(f"no DPC2022 split csv (train.csv, val.csv or validation.csv, test.csv) in {root}, "
                         f"its splits/ or anotation/{{train,test_and_val}}/ folders")
    json_dirs = [root / d for d in _DPC2022_JSON_DIRS if (root / d).is_dir()]
    for split, path in csvs:
        for pid in _csv_ids(path, conv):
            found = next((d / f"{pid}.json" for d in json_dirs if (d / f"{pid}.json").is_file()), None)
            if found is None:
                conv.issue(pid, f"listed in {path.name} but no {pid}.json found")
                continue
            data = _load_json(found, conv)
            if data is not None:
                conv.add(_dpc2022_record(data, pid, split, conv))


def _dpc2022_split_csvs(root: Path) -> list[tuple[str, Path]]:
    seen, out = set(), []
    for d in _DPC2022_CSV_DIRS:
        for name, split in _SPLIT_CSVS:
            p = root / d / name
            if p.is_file() and p.resolve() not in seen:
                seen.add(p.resolve())
                out.append((split, p))
    return out


def _clean_id(value: str) -> str:
    """'245925', '245925.0' (pandas wrote it as a float) or '245925.jpg' -> '245925'."""
    value = value.strip()
    if re.fullmatch(r"\d+\.0+", value):
        return value.split(".")[0]
    return value[:-4] if value.lower().endswith((".jpg", ".png")) else value


def _csv_ids(path: Path, conv: Converted) -> list[str]:
    """The distinct ids of a split csv, in file order."""
    try:
        with path.open(encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f)
            columns = {c.strip().lower(): c for c in reader.fieldnames or []}
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        conv.issue(path, f"unreadable csv: {e}")
        return []
    col = next((columns[c] for c in _ID_COLUMNS if c in columns), None)
    if col is None:
        conv.issue(path, f"no id column ({', '.join(_ID_COLUMNS)}) among {sorted(columns)}")
        return []
    ids = {}
    for n, row in enumerate(rows, 2):
        pid = _clean_id(row.get(col) or "")
        if not pid:
            conv.issue(f"{path.name}:{n}", "empty id")
        ids.setdefault(pid, None)
    ids.pop("", None)
    return list(ids)


def _dpc2022_record(data, pid: str, split: str, conv: Converted) -> CritiqueRecord | None:
    if not isinstance(data, dict):
        conv.issue(pid, f"{pid}.json: expected an object, got {type(data).__name__}")
        return None
    source, texts = None, []
    for key in ("clean_comments", "score_comments", "raw_comments"):  # cleanest source first
        source, texts = key, _texts(data.get(key))
        if texts:
            break
    scores = {}
    if _number(data.get("avg_all_users_score")) is not None:
        scores[OVERALL] = _number(data["avg_all_users_score"])
    meta = _scalars(data, {"ID", "avg_all_users_score"})
    if texts:
        meta["comment_source"] = source
    return CritiqueRecord(pid, f"img_256x256/{pid}.jpg", split, {OVERALL: texts} if texts else {}, scores, meta)


# ---------------------------------------------------------------- AVA-Captions, DPC-Captions

_IMAGE_KEYS = ("filename", "file_name", "im_name", "im_paths", "im_path", "image", "image_path", "imgid",
               "im_id", "image_id", "id")
_COMMENT_KEYS = ("sentences", "comments", "captions", "critiques")


def read_ava_captions(root: Path, conv: Converted) -> None:
    """AVA-Captions (Ghosal et al., 2019): one Karpathy-style json (CLEAN_AVA_FULL_COMMENTS.json).

    From the dataset's build script: {"images": [{"filename": "<AVA id>.jpg", "imgid", "split":
    train|val|test, "filepath": "", "sentences": [{"raw", "clean", "tokens"}]}], "dataset": "AVA"}.
    Also read: `file_name` for `filename`; sentences as plain strings; COCO-style files (`images`
    with `id` and `file_name`, `annotations` with `image_id` and `caption`); a dict image -> list of
    comments; a list of objects with an image key (filename, file_name, im_name, image, imgid, ...)
    and `sentences`/`comments`/`captions`. `raw` is the text used. Where an entry gives no split,
    the file name's (e.g. captions_val.json) is used, else "train" (with one issue per file).
    Aspect = overall. Photo: <filepath>/<filename> as given (".jpg" added to a bare AVA id),
    relative to the root; check's photo lookup also tries the bare file name under the photo root.
    Every *.json in the root folder is read (or the root itself when it is a file).
    """
    _read_caption_jsons(root, conv, {}, "AVA-Captions")


def read_dpc_captions(root: Path, conv: Converted) -> None:
    """DPC-Captions (Jin et al., ACM MM 2019): comments by aesthetic attribute.

    The public release (github.com/BestiVictory/DPC-Captions) is one json per attribute named after
    it, e.g. impression_and_subject.json = {"<id>.jpg": ["comment", ...]}; Aestheval's dpc.json is
    a list of objects with `im_name` and the attribute keys color_lighting, composition,
    depth_and_focus, impression_and_subject, use_of_camera. Both are read, and so is every form
    read_ava_captions reads; attribute keys (in an entry, or as the file name) map onto ASPECTS
    through DPC_ATTRIBUTES, PCCD's own aspect names are kept, and unattributed comments go to
    "overall". Files of one photo are merged into one record per split. The release carries no
    split: without one in the entry or file name, records go to "train" (one issue per file).
    """
    _read_caption_jsons(root, conv, {**{a: a for a in ASPECTS}, **DPC_ATTRIBUTES}, "DPC-Captions")


def _read_caption_jsons(root: Path, conv: Converted, aspect_map: dict, what: str) -> None:
    merged: dict[tuple[str, str], CritiqueRecord] = {}
    for path in _files(root, "*.json", what):
        data = _load_json(path, conv)
        if data is None:
            continue
        ctx = _CaptionFile(path, conv, aspect_map, merged)
        for where, entry in _caption_entries(data, path, conv):
            ctx.entry(where, entry)
        if ctx.defaulted:
            conv.issue(path, f"no split given for {ctx.defaulted} entries: put in 'train'")
    for rec in merged.values():
        conv.add(rec)


def _caption_entries(data, path: Path, conv: Converted):
    """(where, entry object) for each photo of a caption json, whichever of the layouts it uses."""
    if isinstance(data, dict) and isinstance(data.get("images"), list):
        captions: dict = {}
        for a in data.get("annotations") or []:  # COCO layout: captions beside the images
            if isinstance(a, dict):
                captions.setdefault(a.get("image_id"), []).append(a.get("caption"))
        for i, img in enumerate(data["images"]):
            if isinstance(img, dict) and "sentences" not in img and img.get("id") in captions:
                img = {**img, "sentences": captions[img["id"]]}
            yield f"{path.name}[{i}]", img
    elif isinstance(data, dict):  # image -> comments
        for image, comments in data.items():
            yield f"{path.name}[{image!r}]", {"image": image, "comments": comments}
    elif isinstance(data, list):
        for i, entry in enumerate(data):
            yield f"{path.name}[{i}]", entry
    else:
        conv.issue(path, f"expected a JSON object or list, got {type(data).__name__}")


class _CaptionFile:
    """Turns the entries of one caption json into critiques merged per (split, photo)."""

    def __init__(self, path: Path, conv: Converted, aspect_map: dict, merged: dict):
        self.conv, self.aspect_map, self.merged = conv, aspect_map, merged
        self.split = _split_from_name(path.stem)
        self.aspect = aspect_map.get(path.stem, OVERALL)  # DPC-Captions: one file per attribute
        self.defaulted = 0

    def entry(self, where: str, entry) -> None:
        if not isinstance(entry, dict):
            self.conv.issue(where, "not a JSON object")
            return
        image, given = self._image(entry), entry.get("split")
        split = normalize_split(given) if given is not None else self.split
        if image is None or (given is not None and split is None):
            self.conv.issue(where, "no image name" if image is None else f"unknown split {given!r}")
            return
        if split is None:
            split, self.defaulted = "train", self.defaulted + 1
        rec = self.merged.setdefault((split, image), CritiqueRecord(Path(image).stem, image, split, {}))
        for aspect, texts in self._critiques(entry):
            rec.critiques.setdefault(aspect, []).extend(texts)

    @staticmethod
    def _image(entry: dict) -> str | None:
        name = _first(entry, _IMAGE_KEYS)
        if name is None or isinstance(name, (dict, list, bool)):
            return None
        name = str(name).strip()
        if not Path(name).suffix:  # a bare AVA / DPChallenge id: the photos are <id>.jpg
            name += ".jpg"
        return str(Path(entry["filepath"]) / name) if entry.get("filepath") else name

    def _critiques(self, entry: dict):
        for key in _COMMENT_KEYS:
            if _texts(entry.get(key)):
                yield self.aspect, _texts(entry[key])
        for key, aspect in self.aspect_map.items():
            if _texts(entry.get(key)):
                yield aspect, _texts(entry[key])


# ---------------------------------------------------------------- RPCD


def read_rpcd(root: Path, conv: Converted) -> None:
    """RPCD, the Reddit Photo Critique Dataset (Nieto et al., 2022), as processed by Aestheval.

    Files processed_{train,validation,test}.json (Zenodo record 6656802; any *.json whose name
    names a split is read, or the root itself when it is a file): a list of posts. From Aestheval's
    prepare_dataset.py and reddit.py: the photo is `im_paths` (relative to the dataset folder),
    the critiques `first_level_comments_values` (Aestheval copies them to `comments`), and
    `mean_score` is the post's mean comment-sentiment score in [0, 1] which Aestheval scales by 10.
    Also read: image keys im_path, image, image_path, file_name, filename; comment keys comments,
    critiques; comments as strings or objects with text/body/comment/comment_body (a `sentiment`
    beside the text is not kept); the columnar form {"im_paths": [...], "first_level_comments_values":
    [...]} of reddit_photocritique_image_comments.json. "[deleted]" and "[removed]" are dropped.
    Score "overall" = `im_score`, else 10 * `mean_score`; the post's `score` is its Reddit vote
    count, so it goes to meta with the other scalar fields. id = `im_id`/`id`/`post_id`, else the
    photo's file stem. Aspect = overall.
    """
    files = [root] if root.is_file() else sorted(p for p in root.glob("*.json") if _split_from_name(p.stem))
    if not files:
        raise ValueError(f"no RPCD files (processed_train.json, processed_validation.json, "
                         f"processed_test.json) in {root}")
    for path in files:
        data = _load_json(path, conv)
        if isinstance(data, dict) and data and all(isinstance(v, list) for v in data.values()):
            data = [dict(zip(data, row)) for row in zip(*data.values())]  # columnar -> one object per post
        if data is not None and not isinstance(data, list):
            conv.issue(path, f"expected a JSON list of posts, got {type(data).__name__}")
            continue
        for i, post in enumerate(data or []):
            conv.add(_rpcd_record(post, _split_from_name(path.stem), f"{path.name}[{i}]", conv))


def _rpcd_record(post, file_split, where: str, conv: Converted) -> CritiqueRecord | None:
    if not isinstance(post, dict):
        conv.issue(where, "not a JSON object")
        return None
    image = _first(post, ("im_paths", "im_path", "image", "image_path", "file_name", "filename"))
    split = normalize_split(post.get("split")) or file_split
    if not isinstance(image, str) or split is None:
        conv.issue(where, "no photo path" if not isinstance(image, str) else "no split in entry or file name")
        return None
    pid = str(_first(post, ("im_id", "id", "post_id")) or Path(image).stem)
    texts = [t for t in _texts(_first(post, ("comments", "first_level_comments_values", "critiques")) or [])
             if t not in _REDDIT_GONE]
    scores = {}
    if _number(post.get("im_score")) is not None:
        scores[OVERALL] = _number(post["im_score"])
    elif _number(post.get("mean_score")) is not None:
        scores[OVERALL] = 10 * _number(post["mean_score"])
    meta = _scalars(post, {"im_paths", "im_path", "image", "image_path", "file_name", "filename", "split"})
    return CritiqueRecord(pid, image, split, {OVERALL: texts} if texts else {}, scores, meta)


# ---------------------------------------------------------------- our own jsonl, generic csv


def read_jsonl_dir(root: Path, conv: Converted) -> None:
    """Our own schema (records.write_jsonl): <split>.jsonl files in a folder, or one .jsonl file.
    A line that does not parse or is off-schema is an issue "<file>:<line>"."""
    for path in _files(root, "*.jsonl", "jsonl"):
        try:
            for n, rec, err in iter_jsonl(path):
                if err:
                    conv.issue(f"{path.name}:{n}", err)
                else:
                    conv.add(rec)
        except (OSError, UnicodeDecodeError) as e:
            conv.issue(path, f"unreadable: {e}")


_CSV_COLUMNS = ("image", "split", "aspect", "critique")


def read_csv(root: Path, conv: Converted) -> None:
    """Generic csv: columns image,split,aspect,critique[,id], one row per critique (header needed;
    column names are matched case-insensitively). Rows are grouped by (split, id) where id is the
    id column, or else the image path as given. aspect must be one of ASPECTS or "overall"; split
    one of train/val/validation/dev/test. Every *.csv of a folder is read, or the root file."""
    merged: dict[tuple[str, str], CritiqueRecord] = {}
    for path in _files(root, "*.csv", "csv"):
        try:
            with path.open(encoding="utf-8", newline="") as f:
                reader = csv.DictReader(f)
                columns = {c.strip().lower(): c for c in reader.fieldnames or []}
                if not set(_CSV_COLUMNS) <= set(columns):
                    conv.issue(path, f"needs columns {','.join(_CSV_COLUMNS)}; has {','.join(columns)}")
                    continue
                for n, row in enumerate(reader, 2):
                    _csv_row({k: (row.get(c) or "").strip() for k, c in columns.items()},
                             f"{path.name}:{n}", merged, conv)
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            conv.issue(path, f"unreadable csv: {e}")
    for rec in merged.values():
        conv.add(rec)


def _csv_row(row: dict, where: str, merged: dict, conv: Converted) -> None:
    split, aspect = normalize_split(row["split"]), row["aspect"].lower()
    problem = _csv_problem(row, split, aspect)
    if problem:
        conv.issue(where, problem)
        return
    pid = row.get("id") or row["image"]
    rec = merged.setdefault((split, pid), CritiqueRecord(pid, row["image"], split, {}))
    rec.critiques.setdefault(aspect, []).append(row["critique"])


def _csv_problem(row: dict, split, aspect: str) -> str | None:
    if not row["image"]:
        return "no image"
    if split is None:
        return f"unknown split {row['split']!r}"
    if aspect not in ASPECTS + (OVERALL,):
        return f"unknown aspect {row['aspect']!r}"
    return None if row["critique"] else "empty critique"


_READERS: dict[str, Callable[[Path, Converted], None]] = {
    "pccd": read_pccd, "dpc2022": read_dpc2022, "ava-captions": read_ava_captions,
    "dpc-captions": read_dpc_captions, "rpcd": read_rpcd, "jsonl": read_jsonl_dir, "csv": read_csv}
