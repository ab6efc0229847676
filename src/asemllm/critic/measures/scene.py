"""What every measurement reads: the photo prepared once (`Scene`), and the `Attribute` it reports.

Conventions: "luma" is Rec. 709-weighted gamma-encoded sRGB (0-1); "linear luminance" is Rec. 709 Y
of the linearised sRGB values (0-1). The working copy is area-downscaled (longer side 512 by
default); `photo` is the full-resolution RGB image for measurements that downscaling would spoil.
A level comes from a threshold table ((upper bound, level) pairs, first value < bound wins), so a
level always agrees with its value.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

Levels = tuple[tuple[float, str], ...]
SUBJECT_MASS = 0.5  # the subject region: the smallest set of pixels holding this saliency mass


@dataclass
class Attribute:
    name: str
    value: float | None  # None only where the thing measured is absent (e.g. no horizon)
    unit: str
    level: str
    text: str


@dataclass
class Scene:
    """A photo prepared for measuring."""

    photo: object            # PIL RGB image at native resolution (EXIF kept: `photo.getexif()`)
    rgb: np.ndarray          # (H, W, 3) float32 0-1, the working copy
    luma: np.ndarray         # (H, W) gamma luma 0-1
    lin_y: np.ndarray        # (H, W) linear luminance 0-1
    saliency: np.ndarray     # (H, W) float64, sums to 1
    subject: np.ndarray      # (H, W) bool: the smallest region holding half the saliency
    edges: np.ndarray        # (H, W) bool: Canny edges of luma (sigma 2, absolute thresholds)


def level_in(table: Levels, value: float) -> str:
    """The level of `value` in a threshold table."""
    return next(label for bound, label in table if value < bound)


def attribute(name: str, value: float, unit: str, fmt: str, table: Levels, extra: str = "",
              absolute: bool = False) -> Attribute:
    """An Attribute with its level from `table` (on |value| when `absolute`: the sign is a direction)
    and its text "name: value unit extra — level"; a non-finite value (degenerate frames) reads 0."""
    value = float(value)
    if not math.isfinite(value):
        value = 0.0
    level = level_in(table, abs(value) if absolute else value)
    label = name.replace("_", " ")
    scale = unit[:1].isdigit() or unit[:1] == "-"  # "0-1": a scale, not a unit to append
    shown = format(value, fmt) + (f" on a {unit} scale" if scale else f" {unit}")
    return Attribute(name, value, unit, level, f"{label}: {shown}{extra} — {level}")


def absent(name: str, unit: str, level: str, text: str) -> Attribute:
    """An attribute whose subject is not in the photo (no horizon, no EXIF): no value, no claim."""
    return Attribute(name, None, unit, level, text)


@dataclass(frozen=True)
class EditCheck:
    """A controlled edit of a real photo that a measurement must read: the proof that it measures
    what it says (scripts/check_measures.py runs every family's checks; `critic eval` and the critic's
    training data use the same edits)."""

    name: str                 # "relight from the left"
    apply: object             # (PIL photo, saliency (H, W) at the photo's size, random.Random) -> PIL photo
    reads: object             # (values before, values after) -> bool: the measurement moved as it should
    claims: tuple[str, ...]   # rule ids of which the teacher then states at least one
    applies: object = None    # (values before) -> bool: photos the edit makes sense on (None: all)


# ---- preparation shared by every measurement -----------------------------------------------------

@functools.lru_cache(maxsize=1)
def shipped_iasm():
    """The shipped saliency model, loaded once per process."""
    from ...saliency.predict import load_iasm

    return load_iasm()


def working_copy(photo, max_side: int):
    """Area-averaged downscale (longer side <= max_side) as float RGB 0-1."""
    from PIL import Image

    w, h = photo.size
    scale = min(1.0, max_side / max(w, h))
    if scale < 1.0:
        photo = photo.resize((max(1, round(w * scale)), max(1, round(h * scale))), Image.BOX, reducing_gap=3.0)
    return photo, np.asarray(photo, dtype=np.float32) / 255.0


def saliency_at(saliency, small, shape) -> np.ndarray:
    """The saliency map at the working size, non-negative and summing to 1 (uniform if degenerate)."""
    from PIL import Image

    if saliency is None:
        from ...saliency.predict import predict_maps

        (saliency,) = predict_maps(shipped_iasm(), [small], [shape])
    s = np.asarray(saliency, dtype=np.float32)
    if s.shape != shape:  # resize first: cleaning a 12 MP map would cost more than all the rest
        s = np.asarray(Image.fromarray(s, mode="F").resize((shape[1], shape[0]), Image.BOX, reducing_gap=2.0))
    s = np.nan_to_num(s.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0).clip(min=0)
    total = float(s.sum())
    return s / total if total > 0 else np.full(shape, 1.0 / (shape[0] * shape[1]))


def subject_mask(sal: np.ndarray, mass: float = SUBJECT_MASS) -> np.ndarray:
    """The smallest set of pixels holding `mass` of the saliency (ties broken by order): the subject."""
    flat = sal.ravel()
    order = np.argsort(flat)[::-1]
    n = int(np.searchsorted(np.cumsum(flat[order]), mass * flat.sum())) + 1
    mask = np.zeros(flat.size, dtype=bool)
    mask[order[:n]] = True
    return mask.reshape(sal.shape)


def linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB 0-1 -> linear light (IEC 61966-2-1)."""
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def luma(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.2126, 0.7152, 0.0722], dtype=rgb.dtype)
