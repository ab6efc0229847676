"""Measured photo attributes: every claim the default critic makes is backed by one of these numbers.

`measure(image)` returns a dict of `Attribute`s (name, value, unit, level, text).  All measurements
except `noise` are taken on a downscaled working copy (longer side `max_side`, 512 by default, area
averaged): they describe the photo as seen whole, and keep a 12 MP photo cheap to measure.  Noise
is measured on native-resolution tiles, since downscaling averages noise away.

Conventions: "luma" is Rec. 709-weighted gamma-encoded sRGB (0-1, or 0-255 "levels" where said);
"linear luminance" is Rec. 709 Y of the linearised sRGB values (0-1).  Levels come from the
threshold tables below ((upper bound, level) pairs, first match wins), so a level always agrees
with its value: `level_for(name, value)`.
"""

from __future__ import annotations

import math

import numpy as np

from .measures import framing, harmony, light, lines, motion, processing, settings
from .measures.scene import (SUBJECT_MASS, Attribute, Scene, attribute, subject_mask, working_copy,  # noqa: F401
                             linear as _linear, luma as _luma, saliency_at as _saliency_at, shipped_iasm as _iasm)

FAMILIES = (light, framing, lines, motion, processing, harmony, settings)

INF = math.inf

# ---- level thresholds ((upper bound, level), first value < bound wins) ----------------------------
# Exposure offset of the median linear luminance from 18% grey, in stops.  Reflected-light meters aim
# the average scene at ~18% grey; a stop either side is a plainly visible exposure change.
EXPOSURE_LEVELS = ((-2.0, "strongly underexposed"), (-1.0, "underexposed"), (1.0, "normal"),
                   (2.0, "overexposed"), (INF, "strongly overexposed"))
# Mean luma 0-1: thirds-ish split of the tonal range, mid-grey (sRGB 118/255 = 18% linear) ~0.46.
BRIGHTNESS_LEVELS = ((0.25, "dark"), (0.4, "dim"), (0.6, "medium"), (0.75, "bright"), (INF, "very bright"))
# % of frame clipped/crushed: photographers treat > 1-2% of blown highlights as noticeable, and a
# few specks (< 0.5%, e.g. specular highlights, light sources) as harmless.
CLIPPING_LEVELS = ((0.5, "none"), (2.0, "slight"), (5.0, "noticeable"), (INF, "strong"))
# RMS contrast (std of luma 0-1; Peli 1990).  Typical well-exposed photos lie around 0.15-0.25;
# below 0.1 looks flat/foggy, above 0.3 is punchy (large dark and bright areas).
CONTRAST_LEVELS = ((0.1, "low"), (0.17, "moderate"), (0.3, "high"), (INF, "very high"))
# Stops between the 1st and 99th linear-luminance percentiles.  8-bit sRGB can encode ~12 stops;
# a misty scene spans < 4, a typical daylight photo 6-9.
DYNAMIC_RANGE_LEVELS = ((4.0, "narrow"), (7.0, "moderate"), (INF, "wide"))
# Hasler & Süsstrunk (2003) colourfulness M: their own attribute scale (Table 2, 0-255 RGB).
COLOURFULNESS_LEVELS = ((15, "not colourful"), (33, "slightly colourful"), (45, "moderately colourful"),
                        (59, "averagely colourful"), (82, "quite colourful"), (109, "highly colourful"),
                        (INF, "extremely colourful"))
# Mean HSV saturation 0-1: < 0.1 is near-monochrome; > 0.5 is vivid.
SATURATION_LEVELS = ((0.1, "near monochrome"), (0.25, "muted"), (0.5, "moderate"), (INF, "vivid"))
# Correlated colour temperature (McCamy 1992) of the near-neutral pixels as displayed; an sRGB grey
# is D65 = 6504 K.  Lower = the neutrals look warm (yellow/orange), higher = cool (blue).
# ~±1000 K around D65 is hard to notice in a photo; 4500 K or lower is plainly warm (golden hour).
TEMPERATURE_LEVELS = ((4500, "warm"), (5700, "slightly warm"), (7500, "neutral"), (10000, "slightly cool"),
                      (INF, "cool"))
# Colour cast: CIE ΔE*ab of the near-neutral pixels' mean from grey.  ΔE ≈ 2.3 is a just-noticeable
# difference (Sharma 2003); > ~8 is an obvious cast.
CAST_LEVELS = ((3.0, "none"), (8.0, "slight"), (INF, "strong"))
# Variance of the Laplacian of luma (0-255) on the 512-px working copy (Pech-Pacheco 2000).  The
# common "blurry below 100" rule of thumb; sharp, detailed photos are in the thousands.
SHARPNESS_LEVELS = ((30, "very soft"), (100, "soft"), (500, "moderately sharp"), (INF, "sharp"))
# log2(subject / background Laplacian variance).  Within ±1 (2x) the planes look equally sharp;
# >= 3 (8x) reads as a deliberately shallow depth of field.
SEPARATION_LEVELS = ((-1.0, "background sharper than subject"), (1.0, "none"), (3.0, "some"),
                     (INF, "strong (shallow depth of field)"))
# Noise sigma per channel in 0-255 levels (native resolution).  Clean base-ISO shots are < ~1.5;
# sigma ~4 is visible grain, >= 8 is heavy.
NOISE_LEVELS = ((1.5, "clean"), (4.0, "slight"), (8.0, "noticeable"), (INF, "strong"))
# Distance (frame-diagonal units) of the saliency centroid to the nearest rule-of-thirds
# intersection; the thirds grid is 0.33 frame apart, so within 0.05 is "on" and 0.12 "near".
THIRDS_LEVELS = ((0.05, "on a third"), (0.12, "near a third"), (INF, "away from the thirds"))
# Distance of the saliency centroid from the frame centre (diagonal units; corners are 0.5 away).
CENTRE_LEVELS = ((0.05, "centred"), (0.15, "slightly off-centre"), (INF, "off-centre"))
# Fraction of the frame holding half the saliency mass.
SUBJECT_SIZE_LEVELS = ((0.05, "small"), (0.15, "medium"), (0.3, "large"), (INF, "fills the frame"))
# Largest half-vs-half saliency imbalance |mass_a - mass_b| (0 = even, 1 = all on one side).
BALANCE_LEVELS = ((0.2, "balanced"), (0.5, "somewhat unbalanced"), (INF, "unbalanced"))
# |horizon tilt| in degrees: ~0.5° is invisible, 1-2° reads as a mistake, > 10° as a deliberate
# Dutch angle.
TILT_LEVELS = ((0.5, "level"), (2.0, "slightly tilted"), (10.0, "tilted"), (INF, "strongly tilted"))
# Pearson correlation of the (blurred) luma with its left-right mirror.
SYMMETRY_LEVELS = ((0.3, "asymmetric"), (0.7, "partly symmetric"), (INF, "symmetric"))
# Fraction of Canny edge pixels outside the subject region on the working copy.
CLUTTER_LEVELS = ((0.03, "clean"), (0.08, "moderate"), (INF, "busy"))

LEVELS = {
    "brightness": BRIGHTNESS_LEVELS, "exposure_ev": EXPOSURE_LEVELS,
    "highlights_clipped": CLIPPING_LEVELS, "shadows_crushed": CLIPPING_LEVELS,
    "contrast": CONTRAST_LEVELS, "dynamic_range": DYNAMIC_RANGE_LEVELS,
    "colourfulness": COLOURFULNESS_LEVELS, "saturation": SATURATION_LEVELS,
    "colour_temperature": TEMPERATURE_LEVELS, "colour_cast": CAST_LEVELS,
    "sharpness": SHARPNESS_LEVELS, "subject_sharpness": SHARPNESS_LEVELS,
    "background_sharpness": SHARPNESS_LEVELS, "focus_separation": SEPARATION_LEVELS,
    "noise": NOISE_LEVELS, "subject_position": THIRDS_LEVELS, "centre_offset": CENTRE_LEVELS,
    "subject_size": SUBJECT_SIZE_LEVELS, "balance": BALANCE_LEVELS, "horizon_tilt": TILT_LEVELS,
    "symmetry": SYMMETRY_LEVELS, "clutter": CLUTTER_LEVELS,
    **{name: table for family in FAMILIES for name, table in family.LEVELS.items()},
}
# levelled on |value|; the sign is a direction, given in the text
ABS_LEVELED = {"horizon_tilt"} | {name for family in FAMILIES for name in family.ABSOLUTE}
NO_HORIZON = "no horizon"



def level_for(name: str, value: float | None) -> str:
    """The level of `value` in `name`'s threshold table."""
    if value is None:
        return NO_HORIZON
    v = abs(value) if name in ABS_LEVELED else value
    return next(label for bound, label in LEVELS[name] if v < bound)


def _attr(name: str, value: float, unit: str, fmt: str, extra: str = "") -> Attribute:
    return attribute(name, value, unit, fmt, LEVELS[name], extra, absolute=name in ABS_LEVELED)


# ---- preparation --------------------------------------------------------------------------------

# ---- attribute groups ---------------------------------------------------------------------------

def exposure(rgb: np.ndarray, lin_y: np.ndarray) -> list[Attribute]:
    """Brightness (mean gamma luma), exposure offset (median linear Y vs 18% grey, in stops: metering's
    target), blown highlights (any channel >= 250/255) and crushed shadows (luma <= 5/255)."""
    luma = _luma(rgb)
    ev = math.log2(max(float(np.median(lin_y)), 1e-5) / 0.18)
    clipped = 100.0 * float((rgb.max(axis=2) >= 250 / 255 - 1e-6).mean())
    crushed = 100.0 * float((luma <= 5 / 255 + 1e-6).mean())
    return [_attr("brightness", luma.mean(), "0-1", ".2f", " (mean gamma-encoded luma)"),
            _attr("exposure_ev", ev, "EV", "+.1f", " (median vs 18% grey)"),
            _attr("highlights_clipped", clipped, "% of frame", ".1f"),
            _attr("shadows_crushed", crushed, "% of frame", ".1f")]


def tonality(rgb: np.ndarray, lin_y: np.ndarray) -> list[Attribute]:
    """RMS contrast (std of luma 0-1) and dynamic range (stops from the 1st to the 99th percentile of
    linear luminance; the 1st is floored at half the smallest 8-bit step so black frames stay finite)."""
    p1, p99 = np.percentile(lin_y, [1, 99])
    floor = 0.5 / 255 / 12.92
    dr = math.log2(max(p99, floor) / max(p1, floor))
    return [_attr("contrast", _luma(rgb).std(), "0-1", ".2f", " (RMS of luma)"),
            _attr("dynamic_range", dr, "stops", ".1f", " (1st-99th percentile)")]


def colour(rgb: np.ndarray) -> list[Attribute]:
    """Colourfulness (Hasler & Süsstrunk 2003 M on 0-255 RGB: spread plus mean of the opponent
    channels rg = R-G, yb = (R+G)/2-B) and mean HSV saturation ((max-min)/max)."""
    r, g, b = (rgb[..., i] * 255.0 for i in range(3))
    rg, yb = r - g, 0.5 * (r + g) - b
    m = math.hypot(rg.std(), yb.std()) + 0.3 * math.hypot(rg.mean(), yb.mean())
    hi, lo = rgb.max(axis=2), rgb.min(axis=2)
    sat = np.where(hi > 0, (hi - lo) / np.maximum(hi, 1e-6), 0.0).mean()
    return [_attr("colourfulness", m, "M", ".0f", " (Hasler-Süsstrunk)"),
            _attr("saturation", sat, "0-1", ".2f", " (mean HSV saturation)")]


def white_balance(rgb: np.ndarray) -> list[Attribute]:
    """Grey-world on near-neutral pixels: the least chromatic 30% of mid-tone pixels (L* 15-95, away
    from noisy blacks and clipped whites) estimate what should be grey.  Their mean linear colour gives
    a CCT (McCamy 1992), their mean a*b* the cast's size (ΔE from grey) and direction."""
    from skimage.color import rgb2lab

    lab = rgb2lab(rgb).reshape(-1, 3)
    lin = _linear(rgb).reshape(-1, 3)
    mid = (lab[:, 0] > 15) & (lab[:, 0] < 95)
    if mid.sum() < 100:
        mid[:] = True
    chroma = np.hypot(lab[mid, 1], lab[mid, 2])
    neutral = np.flatnonzero(mid)[chroma <= np.percentile(chroma, 30)]
    a, b = lab[neutral, 1].mean(), lab[neutral, 2].mean()
    x, y, z = lin[neutral].mean(axis=0) @ np.array([[0.4124, 0.2126, 0.0193],
                                                    [0.3576, 0.7152, 0.1192],
                                                    [0.1805, 0.0722, 0.9505]])
    s = max(x + y + z, 1e-9)
    n = (x / s - 0.3320) / (0.1858 - y / s)
    cct = float(np.clip(449 * n ** 3 + 3525 * n ** 2 + 6823.3 * n + 5520.33, 1000, 40000))
    direction = ", ".join(filter(None, [
        "green" if a < -1 else "magenta" if a > 1 else "",
        "blue" if b < -1 else "yellow" if b > 1 else ""])) or "none"
    return [_attr("colour_temperature", cct, "K", ".0f", " (white point of near-neutral pixels; D65 = 6504 K)"),
            _attr("colour_cast", math.hypot(a, b), "ΔE", ".1f",
                  f" towards {direction} (a*={a:+.1f}, b*={b:+.1f})")]


def focus(luma255: np.ndarray, subject: np.ndarray) -> list[Attribute]:
    """Variance of the Laplacian of luma (0-255) over the whole frame, inside the subject region and
    outside it; focus separation is log2(subject / background), + when the subject is sharper."""
    from scipy.ndimage import laplace

    lap = laplace(luma255)[1:-1, 1:-1]  # the borders see replicated pixels
    inner = subject[1:-1, 1:-1]
    whole = float(lap.var())
    subj = float(lap[inner].var()) if inner.sum() > 1 else whole
    back = float(lap[~inner].var()) if (~inner).sum() > 1 else whole
    sep = math.log2((subj + 1e-3) / (back + 1e-3))
    return [_attr("sharpness", whole, "Laplacian variance", ".0f"),
            _attr("subject_sharpness", subj, "Laplacian variance", ".0f"),
            _attr("background_sharpness", back, "Laplacian variance", ".0f"),
            _attr("focus_separation", sep, "log2 ratio", "+.1f",
                  f" (subject {2 ** sep:.1f}x as sharp as the background)")]


def noise(photo) -> list[Attribute]:
    """Immerkær noise sigma per channel on native-resolution tiles (asemllm.critic.native)."""
    from .native import noise_sigma

    return [_attr("noise", noise_sigma(photo), "levels (0-255)", ".1f", " (noise sigma per channel)")]


def composition(sal: np.ndarray, subject: np.ndarray) -> list[Attribute]:
    """From the saliency map: its centroid (distance to the nearest thirds intersection and to the
    centre, in frame-diagonal units, so frame shape does not matter), the frame fraction holding half
    its mass, and the left/right and top/bottom mass imbalance."""
    h, w = sal.shape
    ys, xs = (np.arange(h) + 0.5) / h, (np.arange(w) + 0.5) / w
    cx, cy = float(sal.sum(axis=0) @ xs), float(sal.sum(axis=1) @ ys)
    diag = math.hypot(w, h)
    thirds = min(math.hypot((cx - tx) * w, (cy - ty) * h) / diag for tx in (1 / 3, 2 / 3) for ty in (1 / 3, 2 / 3))
    centre = math.hypot((cx - 0.5) * w, (cy - 0.5) * h) / diag
    where = f" at x={cx:.2f}, y={cy:.2f} of the frame"
    right = float(sal[:, w // 2:].sum() - sal[:, : w // 2].sum()) if w > 1 else 0.0
    down = float(sal[h // 2:].sum() - sal[: h // 2].sum()) if h > 1 else 0.0
    sides = ", ".join([f"{50 + 50 * abs(right):.0f}% of the saliency {'right' if right > 0 else 'left'}",
                       f"{50 + 50 * abs(down):.0f}% {'bottom' if down > 0 else 'top'}"])
    return [_attr("subject_position", thirds, "diag", ".2f", f" from the nearest thirds point{where}"),
            _attr("centre_offset", centre, "diag", ".2f", f" from the centre{where}"),
            _attr("subject_size", subject.mean(), "of frame", ".2f", " (fraction holding half the saliency)"),
            _attr("balance", max(abs(right), abs(down)), "0-1", ".2f", f" (imbalance: {sides})")]


def horizon(luma: np.ndarray, max_angle: float = 20.0) -> Attribute:
    """The dominant near-horizontal line: probabilistic Hough segments on Canny edges (the strongest 5%
    of gradients, so faint sea or land lines count), at least a third of the frame wide and within
    ±max_angle° of horizontal; the angle with the most segment length within ±1° wins, refined by a
    length-weighted mean.  Positive = counter-clockwise (rises to the right).  Curved or broken
    horizons (hills, grass in front) are reported as no horizon rather than guessed."""
    from skimage.feature import canny
    from skimage.transform import probabilistic_hough_line

    edges = canny(luma, sigma=2.0, low_threshold=0.85, high_threshold=0.95, use_quantiles=True)
    w = edges.shape[1]
    near = np.deg2rad(max_angle)
    theta = np.concatenate([np.linspace(-np.pi / 2, -np.pi / 2 + near, 200),
                            np.linspace(np.pi / 2 - near, np.pi / 2, 200, endpoint=False)])
    segments = probabilistic_hough_line(edges, threshold=10, line_length=max(10, w // 3), line_gap=max(3, w // 100),
                                        theta=theta, rng=0)
    angles, lengths = [], []
    for (x0, y0), (x1, y1) in segments:
        if x1 < x0:
            x0, y0, x1, y1 = x1, y1, x0, y0
        a = math.degrees(math.atan2(y0 - y1, x1 - x0))  # image y points down
        if abs(a) <= max_angle:
            angles.append(a)
            lengths.append(math.hypot(x1 - x0, y1 - y0))
    if not angles:
        return Attribute("horizon_tilt", None, "degrees", NO_HORIZON, "horizon tilt: no horizon found")
    angles, lengths = np.array(angles), np.array(lengths)
    support = [(lengths[np.abs(angles - a) <= 1.0].sum(), a) for a in angles]
    best = max(support)[1]
    near_best = np.abs(angles - best) <= 1.0
    tilt = float(np.average(angles[near_best], weights=lengths[near_best]))
    way = ("" if abs(tilt) < 0.05 else " counter-clockwise (rises to the right)" if tilt > 0
           else " clockwise (falls to the right)")
    return _attr("horizon_tilt", tilt, "degrees", "+.1f", way)


def structure(luma: np.ndarray, edges: np.ndarray, subject: np.ndarray) -> list[Attribute]:
    """Mirror symmetry (Pearson correlation of luma, smoothed to ~64 px across so small misalignments
    do not matter, with its left-right mirror) and clutter (Canny edge density outside the subject)."""
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(luma, sigma=max(luma.shape) / 128)
    a, b = smooth - smooth.mean(), smooth[:, ::-1] - smooth.mean()
    denom = math.sqrt(float((a * a).sum() * (b * b).sum()))
    sym = float((a * b).sum()) / denom if denom > 1e-12 else 1.0  # a flat frame is trivially symmetric
    clutter = float(edges[~subject].mean()) if (~subject).any() else 0.0
    return [_attr("symmetry", sym, "correlation", ".2f", " with its mirror image"),
            _attr("clutter", clutter, "of background", ".3f", " (edge-pixel density outside the subject)")]


def measure(image, saliency: np.ndarray | None = None, max_side: int = 512) -> dict[str, Attribute]:
    """Measure all attributes of a photo (path, PIL image or uint8 array; greyscale is fine).

    `saliency`: an (H, W) probability map (any size; resized to the working copy); None computes it
    with the shipped IASM (loaded once per process).  Everything but noise is measured on a copy
    downscaled to `max_side` on the longer side."""
    from skimage.feature import canny

    from ..images import load_image

    photo = load_image(image)
    small, rgb = working_copy(photo, max_side)
    shape = rgb.shape[:2]
    sal = _saliency_at(saliency, small, shape)
    subject = subject_mask(sal)
    lin_y = _luma(_linear(rgb))
    luma = _luma(rgb)
    edges = canny(luma, sigma=2.0)  # absolute thresholds: a clean background stays clean
    found = [*exposure(rgb, lin_y), *tonality(rgb, lin_y), *colour(rgb), *white_balance(rgb),
             *focus(luma * 255.0, subject), *noise(photo), *composition(sal, subject),
             horizon(luma), *structure(luma, edges, subject)]
    scene = Scene(photo, rgb, luma, lin_y, sal, subject, edges)
    found += [a for family in FAMILIES for a in family.measure(scene)]
    return {a.name: a for a in found}
