"""Fixation data sets read into one form: per image, its file, size and fixation points.

Conventions shared by every reader (and by ``density.py``):

* ``size`` is ``(height, width)`` of the image as stored on disk, read from the file header
  (``PIL.Image.open(p).size``, nothing decoded). EXIF orientation is *not* applied: eye-tracking
  software (MATLAB ``imread``, the SALICON tools) shows the stored pixels, so the fixations live in
  the stored frame. A reader notes any image whose EXIF tag would rotate it.
* ``points`` are ``(N, 2)`` float64 ``(x, y)`` in 0-based pixel units measured from the image's
  top-left corner: the pixel in row ``i``, column ``j`` covers ``[j, j+1) x [i, i+1)``, so the pixel
  a point falls in is ``(floor(y), floor(x))``. Continuous data (NUS: gaze mapped from the screen)
  keep their sub-pixel value; integer pixel indices (SALICON, binary maps, CSV) are stored as the
  0-based index, i.e. the pixel's corner, half a pixel from its centre - far below the ~20-40 px
  blur of any density map. A point is inside the frame when ``0 <= x <= W`` and ``0 <= y <= H``
  (closed, because NUS keeps gaze with ``x <= width``; the boundary belongs to the last pixel).
* ``observers`` are positive ids (observer column, worker id); 0 means unknown (binary maps).

Bad entries never raise: they go to ``Dataset.skipped`` as ``(id or path, reason)``. A record is
kept when some of its points were dropped (the drop is still listed), and skipped when its image
is missing, unreadable, of the wrong size, or has no fixation inside the frame. Only a layout that
cannot be read at all (no annotation file, no header) raises, with the path in the message.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

FORMATS = ("nus", "salicon", "mit1003", "mit300", "cat2000", "csv")
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff")
NUS_TRAIN_LAST = 400  # NUS split used everywhere: 001-400 train, 401-500 validation
MAP_THRESHOLD = 128  # binary maps are often JPEGs: ringing stays far below half of 255
MAX_MAP_FILL = 0.02  # a "binary" map with more pixels set than this is a blurred density map


@dataclass
class FixationRecord:
    """One image and its fixations (conventions in the module docstring)."""

    id: str
    image: Path
    size: tuple[int, int]
    points: np.ndarray
    observers: np.ndarray
    density: Path | None = None


@dataclass
class Dataset:
    """What a reader found: ``records`` to use, ``skipped`` (id/path, reason), free ``notes``."""

    format: str
    root: Path
    split: str | None = None
    records: list[FixationRecord] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    @property
    def n_points(self) -> int:
        return sum(len(r.points) for r in self.records)

    @property
    def skipped_ids(self) -> list[str]:
        """Ids listed in ``skipped`` that have no record (whole images left out)."""
        kept = {r.id for r in self.records}
        return sorted({k for k, _ in self.skipped} - kept)

    def summary(self) -> str:
        per = self.n_points / max(len(self.records), 1)
        return (f"{self.format} ({self.split or 'all'}): {len(self.records)} records, "
                f"{len(self.skipped_ids)} images skipped, {len(self.skipped)} skip entries, "
                f"{self.n_points} fixations ({per:.1f} per image)")


def read_fixations(format: str, root, split: str | None = None) -> Dataset:
    """Read a fixation data set into a :class:`Dataset`.

    ``format``: ``nus`` (root = the nus_scene folder or its ``data``; split ``train`` = 001-400,
    ``val`` = 401-500, None = all), ``salicon`` (root holds ``images/`` and the COCO-style
    fixation json(s), in ``annotations/`` or beside; split ``train``/``val`` picks jsons whose name
    says so), ``mit1003`` (``ALLSTIMULI/`` + ``ALLFIXATIONMAPS/`` with ``*_fixPts`` binary maps and
    ``*_fixMap`` density maps), ``mit300`` (raises: its fixations are held out), ``cat2000``
    (``[trainSet/]Stimuli/<category>/`` + ``FIXATIONLOCS/<category>/`` ``.mat`` (``fixLocs``) or
    binary images, ``FIXATIONMAPS/<category>/`` density maps) and ``csv`` (a CSV file, or a folder
    with exactly one, header ``image,x,y[,observer]``; image paths relative to the CSV's folder or
    absolute; x, y 0-based pixel coordinates in the image's stored frame).
    """
    fmt = format.lower()
    if fmt not in _READERS:
        raise ValueError(f"unknown fixation format {format!r}; known: {', '.join(FORMATS)}")
    root = Path(root)
    if not root.exists():
        raise FileNotFoundError(f"{fmt}: {root} does not exist")
    return _READERS[fmt](root, split)


# ---------------------------------------------------------------- shared checks


def _image_size(path: Path) -> tuple[int, int] | str:
    """(height, width) from the header, or the reason the file cannot serve as an image."""
    from PIL import Image

    if not path.is_file():
        return f"image file missing: {path}"
    try:
        with Image.open(path) as im:
            w, h = im.size
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        return f"unreadable image {path}: {e}"
    return int(h), int(w)


def _exif_rotation(path: Path) -> int:
    from PIL import Image

    try:
        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1) or 1)
    except (OSError, ValueError, TypeError):
        return 1


def _in_frame(points: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    x, y = points[:, 0], points[:, 1]
    with np.errstate(invalid="ignore"):  # NaN compares False: dropped like an outside point
        return (x >= 0) & (x <= w) & (y >= 0) & (y <= h)


def _add_record(ds: Dataset, rid: str, image: Path, points, observers, *,
                expected: tuple[tuple[int, int], str] | None = None,
                density: Path | None = None) -> None:
    """Check one image's entry and append its record, or list why it is (partly) skipped."""
    size = _image_size(image)
    if isinstance(size, str):
        ds.skipped.append((rid, size))
        return
    if expected is not None and tuple(int(v) for v in expected[0]) != size:
        ds.skipped.append((rid, f"size mismatch: {expected[1]} says {tuple(expected[0])} "
                                f"(h, w) but {image.name} is {size}"))
        return
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    observers = np.asarray(observers, dtype=np.int64).reshape(-1)
    if len(points) == 0:
        ds.skipped.append((rid, "no fixations"))
        return
    keep = _in_frame(points, size)
    n_out = int((~keep).sum())
    frame = f"{size[1]}x{size[0]} (w x h) frame"
    if n_out == len(points):
        ds.skipped.append((rid, f"all {n_out} fixation points outside the {frame}"))
        return
    if n_out:
        ds.skipped.append((rid, f"dropped {n_out} of {len(points)} fixation points outside "
                                f"the {frame}"))
    if (rot := _exif_rotation(image)) != 1:
        ds.notes.append(f"{rid}: EXIF orientation {rot}; points are in the stored frame")
    ds.records.append(FixationRecord(rid, image, size, points[keep], observers[keep], density))


def _no_split(fmt: str, split: str | None) -> None:
    if split is not None:
        raise ValueError(f"{fmt}: no split is defined for this format (got {split!r}); use None")


def _first_dir(root: Path, names: tuple[str, ...], what: str) -> Path:
    for n in names:
        if (root / n).is_dir():
            return root / n
    raise FileNotFoundError(f"{root}: no {what} folder (looked for {', '.join(names)})")


def _images_by_stem(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir())
            if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")}


def _points_from_mask(mask: np.ndarray, path: Path) -> np.ndarray | str:
    """Nonzero pixels of a binary fixation map -> (x, y) points, or why it is not one."""
    if mask.ndim != 2:
        return f"fixation map {path} is not 2-D (shape {mask.shape})"
    fill = float(mask.mean()) if mask.size else 0.0
    if fill > MAX_MAP_FILL:
        return (f"fixation map {path} has {fill:.1%} of its pixels set: a blurred density map, "
                f"not fixation points")
    rows, cols = np.nonzero(mask)
    return np.column_stack([cols, rows]).astype(np.float64)


def _binary_map(path: Path) -> tuple[np.ndarray, tuple[int, int]] | str:
    """Points of a binary map stored as an image (JPEG ringing cut at MAP_THRESHOLD)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("L"))
    except (OSError, ValueError, Image.DecompressionBombError) as e:
        return f"unreadable fixation map {path}: {e}"
    pts = _points_from_mask(arr >= MAP_THRESHOLD, path)
    return pts if isinstance(pts, str) else (pts, arr.shape)


# ---------------------------------------------------------------- NUS scene


def _nus_sizes(path: Path, scipy_io) -> np.ndarray | None:
    """imgInfo.mat -> (n, 2) (height, width), or None when absent or not in that shape."""
    if not path.is_file():
        return None
    info = scipy_io.loadmat(path)["imgInfo"]
    if info.dtype.names and "size" in info.dtype.names:  # a MATLAB struct with field `size`
        info = info["size"][0, 0]
    sizes = np.asarray(info)
    return sizes.astype(np.int64) if sizes.ndim == 2 and sizes.shape[1] == 2 else None


def _nus_rows(split: str | None, n: int) -> range:
    if split is None:
        return range(n)
    if split == "train":
        return range(min(NUS_TRAIN_LAST, n))
    if split == "val":
        return range(NUS_TRAIN_LAST, n)
    raise ValueError(f"nus: split must be 'train', 'val' or None, got {split!r}")


def _nus_image_points(row, rid: str, ds: Dataset) -> tuple[np.ndarray, np.ndarray, int]:
    """One image's row of observer cells [y, x, t_start, duration] -> points, observers."""
    pts, obs, empty = [], [], 0
    for j, cell in enumerate(row, start=1):  # observer id = column number; 0 is "unknown"
        a = np.asarray(cell)
        if a.size == 0:
            empty += 1  # this observer has no fixation on this image: nothing to add
            continue
        if a.ndim != 2 or a.shape[1] < 2 or not np.issubdtype(a.dtype, np.number):
            ds.skipped.append((rid, f"observer {j}: malformed fixation cell {a.shape} {a.dtype}"))
            continue
        pts.append(a[:, [1, 0]].astype(np.float64))  # stored [y, x]: swap to (x, y)
        obs.append(np.full(len(a), j, dtype=np.int64))
    if not pts:
        return np.zeros((0, 2)), np.zeros(0, np.int64), empty
    return np.concatenate(pts), np.concatenate(obs), empty


def _read_nus(root: Path, split: str | None) -> Dataset:
    import scipy.io  # heavy import, only this reader and CAT2000's .mat maps need it

    data = root / "data" if (root / "data").is_dir() else root
    fix_file = data / "tidy" / "fixations.mat"
    if not fix_file.is_file():
        raise FileNotFoundError(f"nus: {fix_file} not found")
    cells = scipy.io.loadmat(fix_file)["fixations"]
    sizes = _nus_sizes(data / "tidy" / "imgInfo.mat", scipy.io)
    ds = Dataset("nus", root, split)
    if sizes is None:
        ds.notes.append("imgInfo.mat missing or unreadable: sizes not cross-checked")
    empty = 0
    for i in _nus_rows(split, cells.shape[0]):
        rid = f"{i + 1:03d}"  # row i is the i-th stimulus in MATLAB's sorted dir(): 001.jpg, ...
        pts, obs, n_empty = _nus_image_points(cells[i], rid, ds)
        empty += n_empty
        expected = (sizes[i], "imgInfo") if sizes is not None and i < len(sizes) else None
        _add_record(ds, rid, data / "stimuli" / f"{rid}.jpg", pts, obs, expected=expected)
    ds.notes.append(f"{empty} empty observer cells ignored")
    return ds


# ---------------------------------------------------------------- SALICON


def _salicon_jsons(root: Path, split: str | None) -> list[Path]:
    found = sorted({*root.glob("annotations/*.json"), *root.glob("*.json")})
    if split is not None:
        if split not in ("train", "val"):
            raise ValueError(f"salicon: split must be 'train', 'val' or None, got {split!r}")
        found = [p for p in found if split in p.name.lower()]
    if not found:
        raise FileNotFoundError(f"salicon: no fixation json under {root} (or its annotations/)"
                                + (f" for split {split!r}" if split else ""))
    return found


def _image_index(folder: Path) -> dict[str, Path]:
    index: dict[str, Path] = {}
    for p in sorted(folder.rglob("*")):
        if p.suffix.lower() in IMAGE_SUFFIXES:
            index.setdefault(p.name, p)
    return index


def _salicon_points(anns: list, rid: str, ds: Dataset) -> tuple[list, list]:
    """Workers' [row, col] 1-based fixations -> 0-based (x, y) points and worker ids."""
    pts, obs = [], []
    for ann in anns:
        try:
            a = np.asarray(ann.get("fixations") or [], dtype=np.float64)
            worker = int(ann.get("worker_id", 0))
        except (TypeError, ValueError) as e:
            ds.skipped.append((rid, f"annotation {ann.get('id')}: unreadable fixations ({e})"))
            continue
        if a.size == 0:
            continue  # a worker without fixations adds nothing
        if a.ndim != 2 or a.shape[1] != 2:
            ds.skipped.append((rid, f"annotation {ann.get('id')}: fixations shape {a.shape}"))
            continue
        pts.append(a[:, ::-1] - 1.0)  # [row, col] 1-based -> (x, y) 0-based
        obs.append(np.full(len(a), worker, dtype=np.int64))
    return pts, obs


def _read_salicon(root: Path, split: str | None) -> Dataset:
    ds = Dataset("salicon", root, split)
    img_dir = root / "images" if (root / "images").is_dir() else root
    index = _image_index(img_dir)
    for js in _salicon_jsons(root, split):
        try:
            data = json.loads(js.read_text())
        except (OSError, ValueError) as e:
            ds.skipped.append((str(js), f"unreadable json: {e}"))
            continue
        by_image = defaultdict(list)
        for ann in data.get("annotations", []):
            by_image[ann.get("image_id")].append(ann)
        images = {img.get("id"): img for img in data.get("images", [])}
        for image_id in sorted(set(by_image) - set(images), key=str):
            ds.skipped.append((str(image_id), f"annotations for an image id not in {js.name}"))
        for image_id, img in images.items():
            name = str(img.get("file_name", image_id))
            pts, obs = _salicon_points(by_image.get(image_id, []), Path(name).stem, ds)
            hw = (img.get("height"), img.get("width"))
            expected = (hw, js.name) if None not in hw else None
            _add_record(ds, Path(name).stem, index.get(name, img_dir / name),
                        np.concatenate(pts) if pts else [], np.concatenate(obs) if obs else [],
                        expected=expected)
    return ds


# ---------------------------------------------------------------- MIT1003 / MIT300


def _read_mit1003(root: Path, split: str | None) -> Dataset:
    _no_split("mit1003", split)
    stim_dir = _first_dir(root, ("ALLSTIMULI", "stimuli", "Stimuli"), "stimuli")
    map_dir = _first_dir(root, ("ALLFIXATIONMAPS", "fixationmaps", "FIXATIONMAPS"),
                         "fixation map")
    images = _images_by_stem(stim_dir)
    maps = _images_by_stem(map_dir)
    fix_pts = {s[: -len("_fixPts")]: p for s, p in maps.items() if s.endswith("_fixPts")}
    ds = Dataset("mit1003", root, split)
    for stem in sorted(set(images) | set(fix_pts)):
        image = images.get(stem, stim_dir / f"{stem}.jpeg")
        if stem not in fix_pts:
            ds.skipped.append((stem, f"no fixation map {stem}_fixPts in {map_dir}"))
            continue
        _add_from_points_file(ds, stem, image, fix_pts[stem], _binary_map(fix_pts[stem]),
                              maps.get(f"{stem}_fixMap"))
    return ds


def _add_from_points_file(ds, rid, image, source: Path, got, density) -> None:
    """`got`: (points, frame shape) read from `source`, or the reason it could not be read."""
    if isinstance(got, str):
        ds.skipped.append((rid, got))
        return
    pts, shape = got
    # observers unknown in binary maps and point files: all 0
    _add_record(ds, rid, image, pts, np.zeros(len(pts), np.int64), expected=(shape, source.name), density=density)


def _read_mit300(root: Path, split: str | None) -> Dataset:
    raise ValueError(
        "mit300: the MIT300 benchmark's fixations are held out (models are scored on "
        "saliency.mit.edu), so there is nothing to read at "
        f"{root}; train and validate on nus/salicon/mit1003/cat2000 and only predict on MIT300")


# ---------------------------------------------------------------- CAT2000


def _cat2000_locs(path: Path) -> tuple[np.ndarray, tuple[int, int]] | str:
    """FIXATIONLOCS file: a .mat holding the binary ``fixLocs`` array, or a binary image."""
    if path.suffix.lower() != ".mat":
        return _binary_map(path)
    import scipy.io

    try:
        mat = scipy.io.loadmat(path)
    except (OSError, ValueError, NotImplementedError) as e:
        return f"unreadable fixation file {path}: {e}"
    arr = mat.get("fixLocs")
    if arr is None:
        return f"{path}: no fixLocs array (has {sorted(k for k in mat if not k.startswith('__'))})"
    pts = _points_from_mask(np.asarray(arr) > 0, path)
    return pts if isinstance(pts, str) else (pts, np.shape(arr))


def _cat2000_files(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    """<category>/<stem> -> file, one level of category folders (their Output/ subfolders not)."""
    if not folder.is_dir():
        return {}
    return {f"{c.name}/{p.stem}": p for c in sorted(folder.iterdir()) if c.is_dir()
            for p in sorted(c.iterdir()) if p.is_file() and p.suffix.lower() in suffixes}


def _read_cat2000(root: Path, split: str | None) -> Dataset:
    _no_split("cat2000", split)
    base = root / "trainSet" if (root / "trainSet").is_dir() else root
    if not (base / "Stimuli").is_dir():
        raise FileNotFoundError(f"cat2000: no Stimuli/ under {base}")
    if not (base / "FIXATIONLOCS").is_dir():
        raise FileNotFoundError(
            f"cat2000: no FIXATIONLOCS/ under {base}: fixation points come from "
            "FIXATIONLOCS/<category>/NNN.mat (FIXATIONMAPS holds blurred maps; the test set's "
            "fixations are held out)")
    images = _cat2000_files(base / "Stimuli", IMAGE_SUFFIXES)
    locs = _cat2000_files(base / "FIXATIONLOCS", (".mat", *IMAGE_SUFFIXES))
    dens = _cat2000_files(base / "FIXATIONMAPS", IMAGE_SUFFIXES)
    ds = Dataset("cat2000", root, split)
    for rid in sorted(set(images) | set(locs)):
        image = images.get(rid, base / "Stimuli" / f"{rid}.jpg")
        if rid not in locs:
            ds.skipped.append((rid, f"no fixation file FIXATIONLOCS/{rid}.mat"))
            continue
        _add_from_points_file(ds, rid, image, locs[rid], _cat2000_locs(locs[rid]), dens.get(rid))
    return ds


# ---------------------------------------------------------------- generic CSV


def _csv_file(root: Path) -> Path:
    if root.is_file():
        return root
    found = sorted(root.glob("*.csv"))
    if len(found) != 1:
        raise FileNotFoundError(f"csv: expected exactly one .csv in {root}, found {len(found)}")
    return found[0]


def _csv_columns(header: list[str], path: Path) -> dict[str, int]:
    cols = {h.strip().lower(): i for i, h in enumerate(header)}
    if not {"image", "x", "y"} <= set(cols):
        raise ValueError(f"csv: {path} needs a header naming image,x,y[,observer]; got {header}")
    return cols


def _csv_row(row: list[str], cols: dict[str, int]) -> tuple[str, float, float, int] | str:
    if len(row) < len(cols):
        return f"{len(row)} fields, expected {len(cols)}"
    try:
        obs = int(row[cols["observer"]]) if "observer" in cols else 0
        return row[cols["image"]].strip(), float(row[cols["x"]]), float(row[cols["y"]]), obs
    except ValueError as e:
        return f"bad number ({e})"


def _read_csv(root: Path, split: str | None) -> Dataset:
    _no_split("csv", split)
    path = _csv_file(root)
    ds = Dataset("csv", root, split)
    groups: dict[str, tuple[list, list]] = {}
    with open(path, newline="") as f:
        reader = csv.reader(f)
        cols = _csv_columns(next(reader, []), path)
        for lineno, row in enumerate(reader, start=2):
            if not any(v.strip() for v in row):
                continue  # blank line
            got = _csv_row(row, cols)
            if isinstance(got, str):
                ds.skipped.append((f"{path.name}:{lineno}", got))
                continue
            pts, obs = groups.setdefault(got[0], ([], []))
            pts.append(got[1:3])
            obs.append(got[3])
    for name, (pts, obs) in groups.items():
        image = Path(name) if Path(name).is_absolute() else path.parent / name
        _add_record(ds, name, image, pts, obs)
    return ds


_READERS = {"nus": _read_nus, "salicon": _read_salicon, "mit1003": _read_mit1003,
            "mit300": _read_mit300, "cat2000": _read_cat2000, "csv": _read_csv}
