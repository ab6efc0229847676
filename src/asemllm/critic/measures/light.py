"""Light: where the key light comes from, how hard it is, the tonal key, and the light's colour.

Measured on the `Scene`'s working copy (linear luminance, luma, linear RGB), its saliency map and
subject region (the smallest set of pixels holding half the saliency):

- `light_side`, `light_top`: stops by which the right half of the subject is brighter than its left
  half (top half than its bottom half), read on the illumination layer (log2 linear luminance
  smoothed over 2% of the frame, so texture and small reflectance changes average out), each
  pixel weighted by its saliency and the halves split at the saliency's centroid. Side light puts
  half a stop or more between the halves; a frontal light leaves both alike. Reflectance still counts: a subject dark on one side reads as
  lit from the other.
- `light_backlight`: stops by which the surround (a ring 8% of the frame wide around the subject's
  core, the region holding 40% of the saliency) is brighter than the core: the subject against
  the light. `light_subject_tone`: the subject's median luma, which tells a silhouette (near black) from a backlit subject that still holds detail.
- `light_hardness`: stops (RMS) of the illumination layer's band-pass between 1% and 8% of the
  frame on and around the subject: hard light casts shadows whose edges and depth show in that band,
  soft light spreads every transition wider than it. The band starts above the scale of ordinary
  defocus (a few pixels at 512 px), so a soft-focus photo does not read as soft light.
- `light_key`: the share of the frame in light tones (luma >= 0.6) minus the share in dark tones
  (luma < 0.3), -1..1: high key near +1, low key near -1. It is a distribution of tones (a style),
  not the exposure offset the core `exposure_ev` reads (an error).
- `light_warmth`: log2 of red over blue (linear light) in the highlights (the brightest tenth of
  the pixels not clipped to white): the colour of the key light itself.
- `light_flare`: the blacks near the brightest area: the lowest "grey floor" (5th percentile of
  min(R, G, B), sRGB 0-1, times one minus the mean saturation) of the grid cells near it. Veiling
  glare from a light in or at the edge of the frame lifts every black around it and washes out its
  colour; without glare some dark detail or saturated colour stays near the light.

The controlled edits that prove them are plain functions here (`relight`, `backlight_edit`,
`shadow_band`, `tone_key`, `warm_side_light`, `dusk`, `flare`) so the critic's training data and
`critic eval` can reuse them. They work in linear light on PIL photos of any size.
"""

from __future__ import annotations

import math

import numpy as np

from ..rule import Rule
from .scene import EditCheck, attribute

INF = math.inf

# ---- thresholds ----------------------------------------------------------------------------------
# Floor for log2 of linear luminance: half the smallest non-zero 8-bit sRGB step (1/255/12.92).
LOG_FLOOR = 0.5 / 255 / 12.92
# Illumination layer: smoothed over 2% of the frame's longer side (~10 px at 512), wider than skin
# pores, grain and leaves, narrower than the light's fall-off across a subject.
ILLUM_SIGMA = 0.02
# Side / top light, stops between the means of the two halves of the subject. A light ramp from
# the lit edge to the shadow edge puts about half its range between the halves' means, so half a
# stop here is about a 2:1 lighting ratio edge to edge, the gentlest ratio portrait lighting uses
# to model a face (2:1 to 4:1 is the usual range); under a fifth of a stop reads flat.
SIDE_LIT, FLAT = 0.5, 0.2
# Top light: twice what side light needs, since daylight from the sky already lights most
# subjects a little from above.
OVERHEAD = 1.0
# Backlight, stops of surround over subject: 1.5 stops darker than what is around it, a subject
# reads as against the light (a centre-weighted meter would underexpose the scene around it).
# A silhouette is far darker still (2.5 stops) with the subject's median near black (luma 0.15 =
# sRGB 38/255, where detail is barely visible). Surround ring width: 8% of the longer side.
BACKLIT, SILHOUETTE, SILHOUETTE_TONE, RING = 1.5, 2.5, 0.15, 0.08
# The subject's core for the backlight: the region holding 40% of the saliency (the subject region
# holds half).
CORE_MASS = 0.4
# Hardness band: 1%-8% of the longer side. Light from the sun or a bare flash leaves shadow edges
# narrower than 1% of the frame and shadows a stop or more deep; an overcast sky or a big softbox
# spreads them over many percent.  RMS over the subject and its surround, in stops: overcast and
# shade lie around half a stop, direct sun over a stop.
BAND = (0.01, 0.08)
HARD, SOFT = 1.1, 0.5
# Tonal key: light tones are luma >= 0.6 (above mid grey's 0.46 by a clear margin), dark tones
# luma < 0.3 (sRGB 77/255, under a stop and a half below mid grey). A high-key picture has nearly
# everything light and little dark: a share difference of 0.6 means e.g. 70% light, 10% dark.
LIGHT_TONE, DARK_TONE, KEY_HIGH, KEY_LOW = 0.6, 0.3, 0.6, -0.6
# Highlights for the light's colour: the brightest 10% of pixels, not clipped white (min channel
# < 0.98, so a clipped white does not read neutral).
HIGHLIGHT_SHARE = 0.10
# Golden light: highlights with red 1.6x blue (log2 0.7; a 3500 K source on a D65-balanced
# photo gives about 2x) from a low, directional sun (half a stop of side light, or a subject with
# the light a stop brighter behind it): warmth alone is the core colour.warm claim.
GOLDEN_WARMTH, GOLDEN_SIDE, GOLDEN_BACK = 0.7, 0.5, 1.0
# Blue hour: the brightest light itself blue (highlights' red/blue under 2^-0.6 = 0.66, as the
# sky after sunset is) in a dim frame (mean luma < 0.35, the core "dim" band): no sun left.
BLUE_LIGHT, BLUE_DIM = -0.6, 0.35
# Flare: a grid of 8 x 8 cells, each's grey floor the 5th percentile of its dark channel (He et al.
# 2009: haze-free outdoor patches nearly always hold a pixel dark in some channel) times one minus
# its mean HSV saturation (glare is near-white light: it lifts the blacks and washes out colour,
# where a blue sky is bright but saturated); "near" the light within 0.3 of the diagonal, where a
# lens's veiling glare is strongest. A grey floor of 0.2 (51/255) everywhere near the light looks
# milky. Under 0.5 luma at the brightest area there is no light source to flare.
GRID, NEAR = 8, 0.3
FLARE, SOURCE_LUMA = 0.2, 0.5

LEVELS = {
    "light_side": ((FLAT, "even"), (SIDE_LIT, "slightly directional"), (INF, "side-lit")),
    "light_top": ((FLAT, "even"), (OVERHEAD, "slightly from above or below"), (INF, "lit from above or below")),
    "light_backlight": ((-1.0, "subject lit brighter than its surround"), (0.5, "even"),
                        (BACKLIT, "slightly against the light"), (SILHOUETTE, "backlit"), (INF, "strongly backlit")),
    "light_subject_tone": ((SILHOUETTE_TONE, "near black"), (0.3, "dark"), (0.6, "mid"), (INF, "light")),
    "light_hardness": ((SOFT, "soft"), (HARD, "moderate"), (INF, "hard")),
    "light_key": ((KEY_LOW, "low key"), (KEY_HIGH, "mixed tones"), (INF, "high key")),
    "light_warmth": ((-0.3, "cool light"), (0.3, "neutral light"), (GOLDEN_WARMTH, "slightly warm light"),
                     (INF, "warm light")),
    "light_flare": ((0.1, "deep blacks near the light"), (FLARE, "slightly lifted"), (INF, "flare")),
}
ABSOLUTE = {"light_side", "light_top"}


# ---- helpers -------------------------------------------------------------------------------------

def _blocks(x: np.ndarray, f: int) -> np.ndarray:
    """Mean over f x f blocks (the frame trimmed to a multiple of f)."""
    if f <= 1:
        return x
    h, w = x.shape[0] // f * f, x.shape[1] // f * f
    x = x[:h, :w]
    return x.reshape(h // f, f, w // f, f, *x.shape[2:]).mean(axis=(1, 3))


def _linear(rgb):
    return np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4)


def _srgb(x):
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


_Y = np.array([0.2126, 0.7152, 0.0722])


def _wmean(x, w) -> float:
    s = float(w.sum())
    return float((x * w).sum() / s) if s > 1e-9 else 0.0


def _halves(illum: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Stops right-minus-left and top-minus-bottom of the illumination layer over weights w, split
    at the weighted centroid."""
    h, wd = w.shape
    total = w.sum()
    if total <= 1e-9:
        return 0.0, 0.0
    xs, ys = np.arange(wd) + 0.5, np.arange(h) + 0.5
    cx, cy = float(w.sum(axis=0) @ xs / total), float(w.sum(axis=1) @ ys / total)
    right, below = xs[None, :] > cx, ys[:, None] > cy
    wr, wl = w * right, w * ~right
    wb, wt = w * below, w * ~below
    if min(wr.sum(), wl.sum(), wb.sum(), wt.sum()) <= 1e-9:
        return 0.0, 0.0
    return _wmean(illum, wr) - _wmean(illum, wl), _wmean(illum, wt) - _wmean(illum, wb)


def _band(logy: np.ndarray, longer: int) -> np.ndarray:
    """Band-pass of a log-luminance layer between BAND[0] and BAND[1] of the longer side (pixels of
    this array). The wide blur is taken at a quarter of the size and enlarged again: a layer that
    smooth loses nothing at that spacing, and it costs a sixteenth."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    lo, hi = BAND[0] * longer, BAND[1] * longer
    fine = gaussian_filter(logy, lo, mode="nearest", truncate=3.0)
    f = 4 if min(logy.shape) >= 32 else 1
    coarse = gaussian_filter(_blocks(logy, f), hi / f, mode="nearest", truncate=3.0).astype(np.float32)
    if f > 1:
        coarse = np.asarray(Image.fromarray(coarse, mode="F").resize((logy.shape[1], logy.shape[0]), Image.BILINEAR))
    return fine - coarse


def _ring(subject: np.ndarray, width: float) -> np.ndarray:
    from scipy.ndimage import distance_transform_edt

    if not subject.any():
        return np.zeros_like(subject)
    return (distance_transform_edt(~subject) <= width) & ~subject


def _colour_of(rgb: np.ndarray, mask: np.ndarray) -> float:
    """log2(R / B) of the mean linear colour over mask of sRGB pixels (0 when too few pixels)."""
    if mask.sum() < 20:
        return 0.0
    lin = _linear(rgb[mask][:, [0, 2]].astype(np.float64))
    r, b = lin[:, 0].mean(), lin[:, 1].mean()
    return math.log2((r + 1e-4) / (b + 1e-4))


# ---- measurements --------------------------------------------------------------------------------

def _quarter(scene):
    """(quarter-size linear luminance, saliency weights 0-1, core fraction, ring around the core, factor).

    Direction is read under the saliency itself (normalised to its peak), not under a hard region:
    a relit subject draws the predicted gaze to its lit side, and a hard region that follows it
    would sit on the bright half alone. The backlight compares the core (the region holding
    CORE_MASS of the saliency) with a ring around it: a darkened subject loses part of its saliency
    to the surround, and the core stays on it where the half-mass region spills over."""
    from .scene import subject_mask

    f = 4 if min(scene.lin_y.shape) >= 64 else 1
    weights = _blocks(scene.saliency, f)
    weights = weights / max(float(weights.max()), 1e-12)
    core = _blocks(subject_mask(scene.saliency, CORE_MASS).astype(np.float64), f)
    ring = _ring(core >= 0.5, RING * max(core.shape))
    return _blocks(scene.lin_y, f), weights, core, ring, f


def direction(small: np.ndarray, subject: np.ndarray) -> tuple[float, float]:
    """(side, top) in stops over the subject (fractions per pixel), on a small illumination layer."""
    from scipy.ndimage import gaussian_filter

    illum = gaussian_filter(np.log2(small + LOG_FLOOR), ILLUM_SIGMA * max(small.shape), mode="nearest", truncate=3.0)
    return _halves(illum, subject)


def backlight(small: np.ndarray, subject: np.ndarray, ring: np.ndarray, luma: np.ndarray,
              mask: np.ndarray) -> tuple[float, float]:
    """(stops of the ring over the subject, the subject's median luma) on small linear luminance."""
    if not mask.any() or mask.all() or subject.sum() <= 1e-9:
        return 0.0, float(np.median(luma))
    if not ring.any():
        ring = subject < 0.5
    inside = _wmean(small, subject)
    stops = math.log2((small[ring].mean() + LOG_FLOOR) / (inside + LOG_FLOOR))
    return stops, float(np.median(luma[mask]))


def hardness(lin_y: np.ndarray, region: np.ndarray) -> float:
    """RMS stops of the 1%-8% band of log luminance over `region` (a 0-1 weight map of any size
    dividing lin_y's), measured at half size."""
    from PIL import Image

    f = 2 if min(lin_y.shape) >= 64 else 1
    small = _blocks(lin_y, f)
    band = _band(np.log2(small + LOG_FLOOR), max(small.shape))
    if region.shape != band.shape:
        region = np.asarray(Image.fromarray(region.astype(np.float32), mode="F").resize(
            (band.shape[1], band.shape[0]), Image.BILINEAR), dtype=np.float64)
    if region.sum() <= 1e-9:
        region = np.ones_like(band)
    return math.sqrt(_wmean(band ** 2, region))


def key(luma: np.ndarray) -> float:
    return float((luma >= LIGHT_TONE).mean() - (luma < DARK_TONE).mean())


def _channel_max_min(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-pixel max and min of R, G, B (elementwise: numpy's reduction over a length-3 axis is slow)."""
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    return np.maximum(np.maximum(r, g), b), np.minimum(np.minimum(r, g), b)


def warmth(rgb: np.ndarray, luma: np.ndarray, dark: np.ndarray) -> float:
    """log2 R/B (linear light) of the highlights; `dark` is the per-pixel min channel. Only white
    pixels (every channel clipped) are left out: a warm highlight clips its red first, and leaving
    out every pixel with a clipped channel would leave out warm light first (the ratio of a pixel
    with red clipped reads too low, never too warm)."""
    ok = dark < 0.98
    if ok.sum() < 100:
        return 0.0
    k = int((1 - HIGHLIGHT_SHARE) * (ok.sum() - 1))
    return _colour_of(rgb, ok & (luma >= np.partition(luma[ok], k)[k]))


def flare_lift(top: np.ndarray, dark: np.ndarray, luma: np.ndarray) -> float:
    """The blacks near the brightest area: the lowest grey floor (5th percentile of the dark channel,
    min(R, G, B), in sRGB 0-1, times one minus the cell's mean saturation) among the grid cells near
    it. Veiling glare adds near-white light to everything near the source, dark things included;
    without it, some dark detail (a shadow, a branch) or a saturated colour (a blue sky) lies near
    the light. `top`, `dark`: the per-pixel max and min channel. 0 when no area is bright enough
    to be a light source."""
    from scipy.ndimage import gaussian_filter

    h, w = luma.shape
    ch, cw = h // GRID, w // GRID
    if ch < 4 or cw < 4:
        return 0.0
    def cells(x):
        return x[: ch * GRID, : cw * GRID].reshape(GRID, ch, GRID, cw).transpose(0, 2, 1, 3).reshape(GRID * GRID, -1)

    sat = np.where(top > 1e-3, (top - dark) / np.maximum(top, 1e-3), 0.0)
    d = cells(dark)
    k = int(0.05 * (d.shape[1] - 1))
    floor = np.partition(d, k, axis=1)[:, k] * (1.0 - cells(sat).mean(axis=1))
    glow = gaussian_filter(_blocks(luma, 8), 2.0, mode="nearest")
    sy, sx = np.unravel_index(int(np.argmax(glow)), glow.shape)
    if glow[sy, sx] < SOURCE_LUMA:
        return 0.0
    sy, sx = (sy + 0.5) * 8, (sx + 0.5) * 8  # the source, in pixels of luma
    gy, gx = np.meshgrid((np.arange(GRID) + 0.5) * ch, (np.arange(GRID) + 0.5) * cw, indexing="ij")
    near = (np.hypot(gy - sy, gx - sx) / math.hypot(h, w)).ravel() <= NEAR
    return float(floor[near].min()) if near.any() else 0.0


def measure(scene) -> list:
    small, weights, core, ring, f = _quarter(scene)
    side, tilt = direction(small, weights)
    back, tone = backlight(small, core, ring, scene.luma, scene.subject)
    top, dark = _channel_max_min(scene.rgb)
    warm = warmth(scene.rgb, scene.luma, dark)
    hard = hardness(scene.lin_y, np.maximum(core, ring))
    lean = "right" if side > 0 else "left"
    up = "top" if tilt > 0 else "bottom"

    def att(name, value, unit, fmt, extra):
        return attribute(name, value, unit, fmt, LEVELS[name], extra, absolute=name in ABSOLUTE)

    return [
        att("light_side", side, "stops", "+.2f", f" ({lean} half of the subject brighter)"),
        att("light_top", tilt, "stops", "+.2f", f" ({up} half of the subject brighter)"),
        att("light_backlight", back, "stops", "+.2f", " (surround over subject)"),
        att("light_subject_tone", tone, "0-1", ".2f", " (median luma of the subject)"),
        att("light_hardness", hard, "stops", ".2f",
            " (RMS shadow contrast, 1-8% of the frame)"),
        att("light_key", key(scene.luma), "-1-1", "+.2f", " (light-tone share minus dark-tone share)"),
        att("light_warmth", warm, "stops", "+.2f", " (log2 red/blue of the highlights)"),
        att("light_flare", flare_lift(top, dark, scene.luma), "0-1", ".2f",
            " (darkest floor near the brightest light)"),
    ]


# ---- controlled edits (PIL photo in, PIL photo out; linear light) ---------------------------------

def _arrays(image):
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    return _linear(rgb)


def _image(lin):
    from PIL import Image

    return Image.fromarray((_srgb(lin) * 255 + 0.5).astype(np.uint8))


def _subject_box(saliency: np.ndarray, mass: float = 0.5):
    """(cx, cy, half-width, half-height) in pixels of the region holding `mass` of the saliency."""
    s = np.nan_to_num(np.asarray(saliency, dtype=np.float64)).clip(min=0)
    if s.sum() <= 0:
        s = np.ones_like(s)
    flat = np.sort(s.ravel())[::-1]
    cut = flat[min(int(np.searchsorted(np.cumsum(flat), mass * flat.sum())), flat.size - 1)]
    ys, xs = np.nonzero(s >= cut)
    x0, x1 = np.percentile(xs, [2, 98])
    y0, y1 = np.percentile(ys, [2, 98])
    return (x0 + x1) / 2, (y0 + y1) / 2, max((x1 - x0) / 2, 4.0), max((y1 - y0) / 2, 4.0)


def _feathered(saliency: np.ndarray, shape, mass: float = 0.5, feather: float = 0.015) -> np.ndarray:
    """The subject region (holding `mass` of the saliency) as a 0-1 mask, edges blurred by `feather`
    of the longer side."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter

    s = np.nan_to_num(np.asarray(saliency, dtype=np.float32)).clip(min=0)
    if s.shape != tuple(shape):
        s = np.asarray(Image.fromarray(s, mode="F").resize((shape[1], shape[0]), Image.BILINEAR))
    s = s.astype(np.float64)
    if s.sum() <= 0:
        s = np.ones(shape)
    flat = np.sort(s.ravel())[::-1]
    cut = flat[min(int(np.searchsorted(np.cumsum(flat), mass * flat.sum())), flat.size - 1)]
    m = (s >= cut).astype(np.float64)
    return gaussian_filter(m, feather * max(shape), mode="nearest", truncate=3.0).clip(0, 1)


def relight(image, saliency, stops: float = 1.0, angle: float = 0.0):
    """A smooth light ramp across the subject: +stops on the side the light comes from, -stops on
    the other, clamped beyond the subject's extent. angle 0: light from the right, 180: from the
    left, 90: from above."""
    lin = _arrays(image)
    h, w = lin.shape[:2]
    cx, cy, hw, hh = _subject_box(saliency)
    a = math.radians(angle)
    ys, xs = np.mgrid[0:h, 0:w]
    t = math.cos(a) * (xs - cx) / hw - math.sin(a) * (ys - cy) / hh
    return _image(lin * (2.0 ** (stops * np.clip(t, -1, 1)))[..., None])


def backlight_edit(image, saliency, stops: float = 2.0):
    """The subject darkened by `stops` (a feathered mask from the saliency), the rest untouched:
    the subject against a brighter background, as when the light comes from behind it."""
    lin = _arrays(image)
    m = _feathered(saliency, lin.shape[:2])
    return _image(lin * (2.0 ** (-stops * m))[..., None])


def shadow_band(image, amount: float):
    """Scale the 1%-8% band of log luminance (the shadows' edges and depth) by (1 - amount), colour
    ratios kept: amount 0.8 softens the light (shadows spread and fill), -1 doubles it (harder)."""
    from PIL import Image

    lin = _arrays(image)
    h, w = lin.shape[:2]
    y = lin @ _Y
    f = max(1, max(h, w) // 256)
    small = _blocks(y, f)
    band = _band(np.log2(small + LOG_FLOOR), max(small.shape)).astype(np.float32)
    band = np.asarray(Image.fromarray(band, mode="F").resize((w, h), Image.BILINEAR), dtype=np.float64)
    return _image(lin * (2.0 ** (-amount * band))[..., None])


def tone_key(image, gamma: float):
    """Shift the tonal key: luma raised to `gamma` (< 1 lifts the tones towards high key, > 1 lowers
    them towards low key), colour ratios kept."""
    rgb = np.asarray(image.convert("RGB"), dtype=np.float64) / 255.0
    luma = rgb @ _Y
    gain = np.where(luma > 1e-4, luma ** gamma / np.maximum(luma, 1e-4), 1.0)
    from PIL import Image

    return Image.fromarray((np.clip(rgb * gain[..., None], 0, 1) * 255 + 0.5).astype(np.uint8))


def warm_side_light(image, saliency, stops: float = 1.0, warmth: float = 0.6, fill: float = 0.15,
                    angle: float = 0.0):
    """A warm, low sun from one side with cool skylight filling the shadows: `relight`'s ramp, the
    lit side's light reddened (red up, blue down by `warmth` at the lit edge, linear light) and the
    shadow side's made bluer by `fill`."""
    lin = _arrays(image)
    h, w = lin.shape[:2]
    cx, cy, hw, hh = _subject_box(saliency)
    a = math.radians(angle)
    ys, xs = np.mgrid[0:h, 0:w]
    t = np.clip(math.cos(a) * (xs - cx) / hw - math.sin(a) * (ys - cy) / hh, -1, 1)
    lit = (t + 1) / 2
    gains = np.stack([(1 + warmth * lit) * (1 - fill * (1 - lit)), np.ones_like(lit),
                      (1 + fill * (1 - lit)) / (1 + warmth * lit) ** 1.5], axis=-1)
    return _image(lin * (2.0 ** (stops * t))[..., None] * gains)


def dusk(image, stops: float = -1.5, coolness: float = 0.35):
    """After sunset: darker by `stops` and bluer (red down, blue up by `coolness`, linear light)."""
    lin = _arrays(image)
    return _image(lin * 2.0 ** stops * np.array([1 - coolness, 1.0, 1 + coolness]))


def flare(image, x: float, y: float, strength: float = 0.8, radius: float = 0.22, haze: float = 0.04):
    """A light source at (x, y) (fractions of the frame, may lie on the edge): a radial glow of
    peak `strength` (linear light) falling off over `radius` of the diagonal, plus a wider veiling
    haze of `haze` that lifts the blacks most near the source."""
    lin = _arrays(image)
    h, w = lin.shape[:2]
    ys, xs = np.mgrid[0:h, 0:w]
    d = np.hypot(xs - x * w, ys - y * h) / math.hypot(w, h)
    glow = strength * np.exp(-0.5 * (d / radius) ** 2) + haze * np.exp(-d / 0.5)
    return _image(lin + glow[..., None] * np.array([1.0, 0.97, 0.9]))


# ---- the teacher's rules ---------------------------------------------------------------------------

RULES: list[Rule] = [
    Rule("light.from_left", ("color_lighting",), ("light_side", "light_backlight"),
         lambda v: v["light_side"] <= -SIDE_LIT and v["light_backlight"] < BACKLIT,
         ("{subject} is lit from the left, and the fall-off into shade gives it shape",
          "side light from the left models {subject} and gives it depth",
          "the light sweeps across {subject} from the left, leaving the far side in shade"),
         r"lit from the left|side light from the left|sweeps across .{1,60}? from the left"),
    Rule("light.from_right", ("color_lighting",), ("light_side", "light_backlight"),
         lambda v: v["light_side"] >= SIDE_LIT and v["light_backlight"] < BACKLIT,
         ("{subject} is lit from the right, and the fall-off into shade gives it shape",
          "side light from the right models {subject} and gives it depth",
          "the light sweeps across {subject} from the right, leaving the far side in shade"),
         r"lit from the right|side light from the right|sweeps across .{1,60}? from the right"),
    Rule("light.overhead", ("color_lighting",), ("light_top", "light_side", "light_backlight"),
         lambda v: v["light_top"] >= OVERHEAD and abs(v["light_side"]) < v["light_top"]
         and v["light_backlight"] < BACKLIT,
         ("the light falls on {subject} from overhead, leaving its lower part in shade",
          "overhead light tops {subject} and shades its underside",
          "{subject} is lit from overhead, as by a high sun"),
         r"from overhead|overhead light"),
    Rule("light.flat", ("color_lighting",), ("light_side", "light_top", "light_backlight"),
         lambda v: abs(v["light_side"]) < FLAT and abs(v["light_top"]) < FLAT and abs(v["light_backlight"]) < 0.5,
         ("the light on {subject} is flat and frontal, with little shadow to model it",
          "frontal light leaves {subject} evenly lit, without shape-giving shadows",
          "{subject} is lit square from the front, so its form reads flat"),
         r"flat and frontal|frontal light|square from the front"),
    Rule("light.backlit", ("color_lighting",), ("light_backlight", "light_subject_tone"),
         lambda v: v["light_backlight"] >= BACKLIT
         and not (v["light_backlight"] >= SILHOUETTE and v["light_subject_tone"] <= SILHOUETTE_TONE),
         ("{subject} is backlit, set against a brighter background",
          "the light comes from behind {subject}, rimming its edges",
          "backlighting puts {subject} against the light, darker than what surrounds it"),
         r"backlit|backlighting|light comes from behind", weight=1.5),
    Rule("light.silhouette", ("color_lighting",), ("light_backlight", "light_subject_tone"),
         lambda v: v["light_backlight"] >= SILHOUETTE and v["light_subject_tone"] <= SILHOUETTE_TONE,
         ("{subject} reads as a silhouette against the bright background",
          "against the light, {subject} becomes a near-black silhouette",
          "{subject} is rendered in silhouette, its outline drawn dark on the glow behind it"),
         r"silhouette", weight=1.5),
    Rule("light.hard", ("color_lighting",), ("light_hardness",),
         lambda v: v["light_hardness"] >= HARD,
         ("hard, direct light casts deep, sharp-edged shadows",
          "the shadows around {subject} are sharp-edged, the mark of a hard, direct source",
          "a hard, direct light carves out sharp-edged shadows"),
         r"hard, direct (light|source)|sharp-edged shadows"),
    Rule("light.soft", ("color_lighting",), ("light_hardness",),
         lambda v: v["light_hardness"] < SOFT,
         ("the light on {subject} is soft and diffused, with gentle shadows",
          "soft, diffused light wraps around {subject}",
          "shadows fall off gently in soft, even light"),
         r"soft and diffused|soft, diffused light|shadows fall off gently"),
    Rule("light.high_key", ("color_lighting",), ("light_key",),
         lambda v: v["light_key"] >= KEY_HIGH,
         ("the tones are kept light and airy, in a high-key style",
          "a high-key treatment keeps almost everything in pale tones",
          "bright, delicate tones give the picture a high-key feel"),
         r"high-key"),
    Rule("light.low_key", ("color_lighting",), ("light_key",),
         lambda v: v["light_key"] <= KEY_LOW,
         ("the picture is low-key, built mostly from deep tones",
          "a low-key rendering keeps most of the frame dark and moody",
          "dark tones dominate in a low-key, dramatic style"),
         r"low-key"),
    Rule("light.golden_hour", ("color_lighting",), ("light_warmth", "light_side", "light_backlight"),
         lambda v: v["light_warmth"] >= GOLDEN_WARMTH
         and (abs(v["light_side"]) >= GOLDEN_SIDE or v["light_backlight"] >= GOLDEN_BACK),
         ("the low sun of the golden hour lights {subject} from the side",
          "golden-hour light skims in at a low angle",
          "low, late sun gives {subject} a golden-hour warmth"),
         r"golden[- ]hour", weight=1.5),
    Rule("light.blue_hour", ("color_lighting",), ("light_warmth", "brightness"),
         lambda v: v["light_warmth"] <= BLUE_LIGHT and v["brightness"] < BLUE_DIM,
         ("the dim, cool light of the blue hour sets a quiet twilight mood",
          "shot in the blue hour, the scene takes on the deep blue of dusk",
          "the blue hour bathes {subject} in cool twilight"),
         r"blue[- ]hour"),
    Rule("light.flare", ("color_lighting", "use_of_camera"), ("light_flare",),
         lambda v: v["light_flare"] >= FLARE,
         ("flare from the bright light source washes out part of the frame",
          "veiling glare from a light in or near the frame lifts the blacks around it",
          "a haze of lens flare spreads from the light source and dulls the shadows"),
         r"flare|veiling glare",
         ("shade the front of the lens with a hood or your hand",
          "shift your position so the light source sits just outside the frame or behind something",
          "keep the front element clean and shield it from the direct light"),
         problem=True, weight=1.5),
]
EXCLUSIVE: list[tuple[str, ...]] = [
    ("light.from_left", "light.from_right", "light.flat"),
    ("light.overhead", "light.flat"),
    ("light.backlit", "light.silhouette", "light.flat"),
    ("light.hard", "light.soft"),
    ("light.high_key", "light.low_key"),
    ("light.golden_hour", "light.blue_hour"),
]


# ---- the checks (scripts/check_measures.py) --------------------------------------------------------

def _side_of(rng) -> float:
    return rng.choice((0.0, 180.0))


def _relight_reads(way: float):
    # the ramp (+-1 stop at the subject's edges) puts about a stop between the subject's halves
    return lambda before, after: way * (after["light_side"] - before["light_side"]) >= 0.6


def _warm_apply(image, sal, rng):
    return warm_side_light(image, sal, 1.0, 0.6, 0.15, _side_of(rng))


def _warm_reads(before, after) -> bool:
    return (after["light_warmth"] - before["light_warmth"] >= 0.25
            and abs(after["light_side"] - before["light_side"]) >= 0.5)


def _flare_apply(image, sal, rng):
    # the sun in the upper part of the frame or on its top edge, as it usually is
    return flare(image, rng.uniform(0.1, 0.9), rng.uniform(0.0, 0.25))


CHECKS: list[EditCheck] = [
    EditCheck("relight from the left", lambda im, sal, rng: relight(im, sal, 1.0, 180.0), _relight_reads(-1),
              ("light.from_left",)),
    EditCheck("relight from the right", lambda im, sal, rng: relight(im, sal, 1.0, 0.0), _relight_reads(1),
              ("light.from_right",)),
    EditCheck("relight from above", lambda im, sal, rng: relight(im, sal, 1.0, 90.0),
              lambda b, a: a["light_top"] - b["light_top"] >= 0.6, ("light.overhead",)),
    EditCheck("backlight: subject -2 stops", lambda im, sal, rng: backlight_edit(im, sal, 2.0),
              lambda b, a: a["light_backlight"] - b["light_backlight"] >= 1.0, ("light.backlit", "light.silhouette")),
    EditCheck("soften the light", lambda im, sal, rng: shadow_band(im, 0.8),
              lambda b, a: a["light_hardness"] <= 0.7 * b["light_hardness"], ("light.soft",),
              applies=lambda b: b["light_hardness"] >= SOFT),
    EditCheck("harden the light", lambda im, sal, rng: shadow_band(im, -1.0),
              lambda b, a: a["light_hardness"] >= 1.35 * b["light_hardness"], ("light.hard",),
              applies=lambda b: b["light_hardness"] < HARD),
    EditCheck("high key", lambda im, sal, rng: tone_key(im, 0.4),
              lambda b, a: a["light_key"] - b["light_key"] >= 0.25, ("light.high_key",),
              applies=lambda b: b["light_key"] < KEY_HIGH),
    EditCheck("low key", lambda im, sal, rng: tone_key(im, 2.5),
              lambda b, a: b["light_key"] - a["light_key"] >= 0.25, ("light.low_key",),
              applies=lambda b: b["light_key"] > KEY_LOW),
    # photos whose highlights are already deep orange (red 2.8x blue) have no room to warm further
    EditCheck("warm low side light", _warm_apply, _warm_reads, ("light.golden_hour",),
              applies=lambda b: b["light_warmth"] < 1.5),
    # 1.5 stops darker and bluer (blue/red x2 = 1 stop of red/blue): the highlights' colour drops
    # by most of a stop, the mean luma by a fifth or more; photos already blue and dim are left out
    EditCheck("dusk", lambda im, sal, rng: dusk(im),
              lambda b, a: a["light_warmth"] - b["light_warmth"] <= -0.5 and a["brightness"] <= 0.8 * b["brightness"],
              ("light.blue_hour",), applies=lambda b: not (b["light_warmth"] <= BLUE_LIGHT and b["brightness"] < BLUE_DIM)),
    EditCheck("flare", _flare_apply, lambda b, a: a["light_flare"] - b["light_flare"] >= 0.1, ("light.flare",)),
]
