"""Colour harmony: how the photo's hues sit on the colour wheel, against harmonic templates, and
colour accents.

The hue distribution is a saturation-weighted histogram (1-degree bins, HSV hue) of the reasonably
coloured pixels (S >= 0.2, V >= 0.15: greys and near-blacks have no meaningful hue).  Following
Cohen-Or et al. (2006, "Color harmonization", after Matsuda's templates), each template is a set of
sectors on the hue wheel, rotated freely; its fit is the saturation-weighted mean distance (degrees
of hue) from each coloured pixel to the nearest sector, at the best rotation -- 0 when every hue is
inside.  Three templates are reported as graded numbers:
- analogous: one 60-degree sector (monochrome and analogous schemes: neighbouring hues);
- complementary: two 30-degree sectors opposite each other;
- triad: three 20-degree sectors 120 degrees apart.
(The three have the same total arc, so their fits compare.)  The accent is the share of the frame
in strongly saturated colour (S >= 0.45, V >= 0.25) whose hue lies 60 degrees or more outside the
best analogous sector: a small patch of a far hue -- a red coat in a green field.
"""

from __future__ import annotations

import math

import numpy as np

from ..rule import Rule
from .scene import EditCheck, absent, attribute

# ---- thresholds -----------------------------------------------------------------------------------
# Coloured pixels: below S 0.2 or V 0.15 the hue is noise.  Below 5% of the frame coloured, the photo
# is near monochrome and its hue harmony is not judged (absent).
HUE_SAT, HUE_VAL, MIN_COLOURED = 0.2, 0.15, 0.05
TEMPLATES = {"analogous": ((0.0, 60.0),), "complementary": ((0.0, 30.0), (180.0, 30.0)),
             "triad": ((0.0, 20.0), (120.0, 20.0), (240.0, 20.0))}  # (centre, width) in degrees
# Fits (mean degrees outside the template).  Within 4 degrees the hues essentially keep to the
# template (a pixel outside by 20 degrees in one of five pixels); beyond 15 degrees for every
# template the hues spread over the wheel with no scheme.
FITS, CLASHES = 4.0, 15.0
# Accent: strongly coloured pixels 60+ degrees outside the main sector.  0.3-8% of the frame is a
# small patch that draws the eye; more is a second colour area, not an accent.
ACCENT_SAT, ACCENT_VAL, ACCENT_AWAY = 0.45, 0.25, 60.0
ACCENT_MIN, ACCENT_MAX = 0.3, 8.0

INF = math.inf
_FIT_LEVELS = ((FITS, "fits"), (CLASHES, "loose fit"), (INF, "does not fit"))
LEVELS = {f"hue_fit_{name}": _FIT_LEVELS for name in TEMPLATES}
LEVELS["colour_accent"] = ((ACCENT_MIN, "none"), (ACCENT_MAX, "accent"), (INF, "second colour area"))
ABSOLUTE: set = set()


# ---- the measurement ------------------------------------------------------------------------------

def _max3(rgb):
    """Per-pixel max of the 3 channels (numpy's reduce over a length-3 last axis is ~10x slower)."""
    return np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def _min3(rgb):
    return np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def hsv(rgb: np.ndarray):
    """HSV of float RGB 0-1: hue in degrees 0-360, saturation and value 0-1."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = _max3(rgb)
    c = v - _min3(rgb)
    s = np.where(v > 0, c / np.maximum(v, 1e-6), 0.0)
    safe = np.maximum(c, 1e-6)
    h = np.where(v == r, ((g - b) / safe) % 6, np.where(v == g, (b - r) / safe + 2, (r - g) / safe + 4))
    return (60.0 * h) % 360.0, s, v


def _distance_table(template) -> np.ndarray:
    """(360 rotations, 360 hues): degrees from each hue to the template rotated by each angle."""
    hues = np.arange(360)[None, :] + 0.5
    rot = np.arange(360)[:, None]
    best = np.full((360, 360), 180.0)
    for centre, width in template:
        d = np.abs((hues - rot - centre + 180.0) % 360.0 - 180.0)
        best = np.minimum(best, np.maximum(d - width / 2, 0.0))
    return best


_TABLES: dict = {}


def fit(hist: np.ndarray, template) -> tuple[float, int]:
    """(mean degrees outside the best rotation of the template, that rotation) for a weighted hue
    histogram (360 bins)."""
    key = tuple(template)
    if key not in _TABLES:
        _TABLES[key] = _distance_table(template)
    costs = _TABLES[key] @ hist / max(float(hist.sum()), 1e-12)
    k = int(np.argmin(costs))
    return float(costs[k]), k


def harmony_values(rgb: np.ndarray) -> dict | None:
    """{hue_fit_<template>: degrees, main_hue: degrees, colour_accent: % of frame}, or None when
    too little of the frame is coloured.  Read on every other pixel of the working copy: shares of the
    frame and a hue histogram need no more."""
    rgb = rgb[::2, ::2]
    v, lo = _max3(rgb), _min3(rgb)
    s = (v - lo) / np.maximum(v, 1e-6)
    coloured = (s >= HUE_SAT) & (v >= HUE_VAL)
    if coloured.mean() < MIN_COLOURED:
        return None
    h, s, v = hsv(rgb[coloured])  # hue only where it means something (and cheaper)
    hist = np.bincount(h.astype(int) % 360, s, 360)
    out = {}
    for name, template in TEMPLATES.items():
        out[f"hue_fit_{name}"], rot = fit(hist, template)
        if name == "analogous":
            main = rot
    out["main_hue"] = float(main)
    d = np.abs((h - main + 180.0) % 360.0 - 180.0) - TEMPLATES["analogous"][0][1] / 2
    accent = (s >= ACCENT_SAT) & (v >= ACCENT_VAL) & (d >= ACCENT_AWAY)
    out["colour_accent"] = 100.0 * float(accent.sum()) / coloured.size
    return out


def measure(scene) -> list:
    """hue_fit_analogous / _complementary / _triad (degrees outside the template) and colour_accent
    (% of frame); all absent on a near-monochrome photo."""
    m = harmony_values(scene.rgb)
    names = [f"hue_fit_{t}" for t in TEMPLATES] + ["colour_accent"]
    if m is None:
        return [absent(n, "degrees" if n.startswith("hue") else "% of frame", "too little colour",
                       f"{n.replace('_', ' ')}: too little colour to judge") for n in names]
    found = [attribute(f"hue_fit_{t}", m[f"hue_fit_{t}"], "degrees", ".1f", LEVELS[f"hue_fit_{t}"],
                       f" outside the best {t} template (main hue {m['main_hue']:.0f})") for t in TEMPLATES]
    found.append(attribute("colour_accent", m["colour_accent"], "% of frame", ".1f", LEVELS["colour_accent"],
                           " (saturated colour far from the main hues)"))
    return found


# ---- the rules ------------------------------------------------------------------------------------

def _analogous(v):
    return v["hue_fit_analogous"] < FITS


def _complementary(v):
    return v["hue_fit_complementary"] < FITS and v["hue_fit_analogous"] >= FITS


def _triad(v):
    return v["hue_fit_triad"] < FITS and v["hue_fit_analogous"] >= FITS and v["hue_fit_complementary"] >= FITS


def _clash(v):
    return min(v["hue_fit_analogous"], v["hue_fit_complementary"], v["hue_fit_triad"]) >= CLASHES


_FITS = ("hue_fit_analogous", "hue_fit_complementary", "hue_fit_triad")
RULES = [
    Rule("harmony.analogous", ("color_lighting",), ("hue_fit_analogous",), _analogous,
         ("the palette keeps to neighbouring hues on the colour wheel, which makes it harmonious",
          "an analogous colour scheme holds the picture together",
          "the hues stay within one family, giving a unified, harmonious palette"),
         r"neighbouring hues|analogous colour scheme|within one family"),
    Rule("harmony.complementary", ("color_lighting",), ("hue_fit_analogous", "hue_fit_complementary"), _complementary,
         ("the picture plays complementary colours, opposite on the colour wheel, against each other",
          "a complementary colour scheme gives the image energy",
          "two opposing hues from across the colour wheel balance each other"),
         r"complementary colou?r|opposing hues"),
    Rule("harmony.triad", ("color_lighting",), _FITS, _triad,
         ("three hues spaced evenly around the colour wheel form a triadic scheme",
          "a triad of colours, evenly spread around the wheel, keeps the palette in balance",
          "the palette rests on three well-spaced hues"),
         r"triadic scheme|triad of colours|three well-spaced hues"),
    Rule("harmony.clash", ("color_lighting",), _FITS, _clash,
         ("the hues are scattered around the colour wheel and clash with each other",
          "the colours compete rather than harmonise",
          "with no colour scheme tying them together, the hues feel discordant"),
         r"clash with each other|compete rather than harmonise|feel discordant",
         ("simplify the palette to a few related hues", "shift the odd colours towards the main ones",
          "choose a viewpoint or moment where fewer colours fight for attention"),
         problem=True, weight=0.5),
    Rule("harmony.accent", ("color_lighting", "composition"), ("colour_accent", "hue_fit_analogous"),
         lambda v: ACCENT_MIN <= v["colour_accent"] < ACCENT_MAX and v["hue_fit_analogous"] < CLASHES,
         ("a small accent of contrasting colour draws the eye",
          "a touch of a far-off hue stands out as a colour accent",
          "one spot of contrasting colour pops against the rest of the palette"),
         r"accent of contrasting colou?r|colour accent|spot of contrasting colou?r"),
]
EXCLUSIVE = [("harmony.analogous", "harmony.complementary", "harmony.triad", "harmony.clash")]


# ---- controlled edits -----------------------------------------------------------------------------

def _hsv_photo(photo):
    rgb = np.asarray(photo, dtype=np.float32) / 255.0
    return hsv(rgb)


def _from_hsv(h, s, v):
    from PIL import Image

    h6 = (h % 360.0) / 60.0
    i = np.floor(h6).astype(int) % 6
    f = h6 - np.floor(h6)
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    choices = [np.stack(x, -1) for x in ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))]
    out = np.select([(i == k)[..., None] for k in range(6)], choices)
    return Image.fromarray((np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8))


def _main_hue(h, s, v) -> float:
    coloured = (s >= HUE_SAT) & (v >= HUE_VAL)
    hist = np.bincount(h[coloured].astype(int) % 360, s[coloured], 360) if coloured.any() else np.ones(360)
    return float(fit(hist, TEMPLATES["analogous"])[1])


def pull_hues(photo, width: float = 60.0):
    """Compress every hue towards the main hue so the whole wheel maps into one `width`-degree sector."""
    h, s, v = _hsv_photo(photo)
    main = _main_hue(h, s, v)
    d = (h - main + 180.0) % 360.0 - 180.0
    return _from_hsv(main + d * (width / 360.0), s, v)


def scatter_hues(photo, step: float = 90.0):
    """Rotate the hues of the four quadrants by 0, 1, 2 and 3 times `step` degrees: one photo's colours
    spread around the wheel, which no harmonic template holds."""
    h, s, v = _hsv_photo(photo)
    hh, ww = h.shape
    turn = np.zeros(h.shape)
    turn[: hh // 2, ww // 2:] = step
    turn[hh // 2:, ww // 2:] = 2 * step
    turn[hh // 2:, : ww // 2] = 3 * step
    return _from_hsv(h + turn, s, v)


def accent_patch(photo, saliency: np.ndarray, share: float = 0.015, away: float = 150.0):
    """Paint a disc covering `share` of the frame, at the saliency peak, in a strongly saturated hue
    `away` degrees from the main hue (its brightness kept, lifted to at least 0.5)."""
    h, s, v = _hsv_photo(photo)
    main = _main_hue(h, s, v)
    sal = np.asarray(saliency, dtype=np.float64)
    cy, cx = np.unravel_index(int(np.argmax(sal)), sal.shape)
    hh, ww = h.shape
    radius = math.sqrt(share * hh * ww / math.pi)
    yy, xx = np.mgrid[0:hh, 0:ww]
    disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= radius ** 2
    return _from_hsv(np.where(disc, main + away, h), np.where(disc, np.maximum(s, 0.8), s),
                     np.where(disc, np.maximum(v, 0.5), v))


def _best_fit(v) -> float:
    return min(v.get(f"hue_fit_{t}", 0.0) for t in TEMPLATES)


def _coloured(before) -> bool:
    return "hue_fit_analogous" in before


def _has_scheme(before) -> bool:
    return "hue_fit_analogous" in before and before["hue_fit_analogous"] < CLASHES


CHECKS = [
    EditCheck("pull all hues into one 60-degree sector", lambda p, s, rng: pull_hues(p, 60.0),
              lambda b, a: a.get("hue_fit_analogous", INF) < FITS, ("harmony.analogous",), _coloured),
    EditCheck("turn the quadrants' hues 0/90/180/270 degrees", lambda p, s, rng: scatter_hues(p, 90.0),
              lambda b, a: _best_fit(a) - _best_fit(b) >= 5.0, ("harmony.clash",), _has_scheme),
    EditCheck("paint a small patch of a far hue", lambda p, s, rng: accent_patch(p, s),
              lambda b, a: a.get("colour_accent", 0.0) - b["colour_accent"] >= 0.5, ("harmony.accent",),
              _has_scheme),
]
