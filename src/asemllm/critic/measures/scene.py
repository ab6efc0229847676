"""What every measurement reads: the photo prepared once (`Scene`), and the `Attribute` it reports.

Conventions: "luma" is Rec. 709-weighted gamma-encoded sRGB (0-1); "linear luminance" is Rec. 709 Y
of the linearised sRGB values (0-1). The working copy is area-downscaled (longer side 512 by
default); `photo` is the full-resolution RGB image for measurements that downscaling would spoil.
A level comes from a threshold table ((upper bound, level) pairs, first value < bound wins), so a
level always agrees with its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

Levels = tuple[tuple[float, str], ...]


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
