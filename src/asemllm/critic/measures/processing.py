"""Processing: the traces heavy editing leaves -- an added vignette, clipped oversaturated colour, and
halos along strong edges from over-sharpening or local tone mapping ("overdone HDR").

- vignette: a radial falloff model fitted to linear luminance.  In each of 8 angular sectors around
  the frame centre, the median log2 luminance of 10 rings is fitted with a + b r^2 (r = 1 at the
  corners; a lens's cos^4 falloff and editors' vignettes are close to r^2 in stops).  A vignette
  darkens every sector alike; a naturally dark edge (ground, a shadowed wall) only some of them, so
  the value is the falloff that 7 of the 8 sectors share (the second smallest), in stops.
- oversaturation: the share of the frame whose colour is both strongly saturated (HSV S >= 0.8) and
  clipped (a channel at 0 or 255): colour pushed past what the file can hold, so its gradations
  are lost.  colour.vivid (Hasler-Suesstrunk colourfulness) is the amount of colour, not this.
- halo: across strong edges (Canny edges with a step of at least 0.1 in luma), the luminance profile
  along the gradient is compared with a monotone step: the overshoot just past the edge above the
  bright plateau plus the undershoot below the dark one, as a signed share of the step, median over
  the edges.  Unsharp masks
  and local tone mapping both add such bright/dark bands (Gibbs-like ringing; see e.g. Ledda et al.
  2005 on tone-mapping artefacts); a clean step has none.
"""

from __future__ import annotations

import math

import numpy as np

from ..rule import Rule, percent
from .scene import EditCheck, attribute

# ---- thresholds -----------------------------------------------------------------------------------
SECTORS, RINGS = 8, 10
# Vignette (stops of corner falloff shared by 7 of 8 sectors, + = darker corners).  Lenses wide open
# lose up to ~0.5-1 stop; an added vignette that reads as an effect is about a stop.  Below 0.3 stop
# the corners are even.
VIGNETTE_HEAVY, VIGNETTE_NONE = 0.8, 0.3
# Oversaturation: HSV saturation >= 0.8 (strong colour) with a channel within 2 levels of 0 or 255
# (clipped; 2 levels because the working copy is area-averaged), on pixels not near black.
SATURATED, CLIP_LOW, CLIP_HIGH, NOT_BLACK = 0.8, 2 / 255, 253 / 255, 0.25
# % of the frame in clipped saturated colour: a few specks (flowers, lights) are normal; >= 3% is a
# visible patch of blocked colour.
OVERSATURATED, SATURATION_CLEAN = 3.0, 0.5
# Halo: Canny edges whose plateaus (4-8 px out on the working copy) differ by >= 0.1 in luma; at
# least 20 of them, at most 4000 (subsampled).  Halos 1-2 px out on the working copy are read: an
# unsharp mask of radius 1-5 px on the full photo, or local tone mapping with a small base radius.
HALO_REACH, HALO_STEP, HALO_MIN_EDGES, HALO_MAX_EDGES = 8, 0.10, 20, 4000
# Signed overshoot as a share of the step (median over edges): untouched photos read -0.5..+0.3
# (softly resized photos negative, crisp small JPEGs around 0); a radius-2.5, 300% unsharp mask adds
# 0.2-0.6.  0.3 and above is a visible halo; below 0 no overshoot at all.
HALOS, HALO_CLEAN = 0.30, 0.0

INF = math.inf
LEVELS = {
    "vignette": ((-VIGNETTE_NONE, "lighter corners"), (VIGNETTE_NONE, "none"), (VIGNETTE_HEAVY, "slight"),
                 (INF, "heavy")),
    "oversaturation": ((SATURATION_CLEAN, "none"), (OVERSATURATED, "slight"), (10.0, "noticeable"),
                       (INF, "strong")),
    "halo": ((HALO_CLEAN, "none"), (HALOS, "slight"), (0.6, "visible halos"), (INF, "strong halos")),
}
ABSOLUTE: set = set()


# ---- the measurements -----------------------------------------------------------------------------

def _max3(rgb):
    """Per-pixel max of the 3 channels (numpy's reduce over a length-3 last axis is ~10x slower)."""
    return np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def _min3(rgb):
    return np.minimum(np.minimum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])


def _radius_angle(shape):
    """Distance from the centre (1 at the corners) and angle, per pixel."""
    h, w = shape
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    dy, dx = (y + 0.5 - h / 2) / (h / 2), (x + 0.5 - w / 2) / (w / 2)
    return np.sqrt((dx * dx + dy * dy) / 2), np.arctan2(dy, dx)


def vignette_falloff(lin_y: np.ndarray) -> tuple[float, np.ndarray]:
    """(corner falloff in stops shared by 7 of 8 sectors, + = darker corners; each sector's falloff)."""
    r, a = _radius_angle(lin_y.shape)
    logy = np.log2(np.maximum(lin_y, 1e-4)).ravel()
    sector = ((a + math.pi) / (2 * math.pi) * SECTORS).astype(int) % SECTORS
    ring = np.minimum((r * RINGS).astype(int), RINGS - 1)
    label = (sector * RINGS + ring).ravel()
    order = np.argsort(label, kind="stable")
    bounds = np.searchsorted(label[order], np.arange(SECTORS * RINGS + 1))
    ring_r2 = ((np.arange(RINGS) + 0.5) / RINGS) ** 2
    falloffs = []
    for s in range(SECTORS):
        rs, ys = [], []
        for k in range(RINGS):
            lo, hi = bounds[s * RINGS + k], bounds[s * RINGS + k + 1]
            if hi - lo >= 8:
                rs.append(ring_r2[k])
                ys.append(float(np.median(logy[order[lo:hi]])))
        if len(rs) >= 4:
            falloffs.append(-float(np.polyfit(rs, ys, 1)[0]))
    if len(falloffs) < 2:
        return 0.0, np.array(falloffs)
    falloffs = np.sort(np.array(falloffs))
    return float(falloffs[1]), falloffs


def oversaturation(rgb: np.ndarray) -> float:
    """% of the frame in strongly saturated, clipped colour."""
    hi, lo = _max3(rgb), _min3(rgb)
    sat = (hi - lo) / np.maximum(hi, 1e-6)
    clipped = (hi >= CLIP_HIGH) | (lo <= CLIP_LOW)
    return 100.0 * float(((sat >= SATURATED) & (hi >= NOT_BLACK) & clipped).mean())


def halo_strength(luma: np.ndarray, edges: np.ndarray) -> tuple[float, int]:
    """(median signed overshoot across strong edges as a share of the step, edges used).

    Each profile runs HALO_REACH px either side along the gradient (towards the bright side).  Its
    plateaus are the medians 4-8 px out; the overshoot is the mean 1-2 px out on the bright side above
    its plateau, plus the undershoot on the dark side below its own.  Texture beside an edge deviates
    either way and a soft edge is still climbing there (negative), so across many edges the median is
    near or below 0 on clean photos; halos push it up consistently."""
    from scipy.ndimage import gaussian_filter, map_coordinates

    h, w = luma.shape
    m = HALO_REACH + 1
    ys, xs = np.nonzero(edges[m:h - m, m:w - m])
    ys, xs = ys + m, xs + m
    if ys.size > HALO_MAX_EDGES:  # an even subsample keeps it cheap on busy frames
        keep = np.linspace(0, ys.size - 1, HALO_MAX_EDGES).astype(int)
        ys, xs = ys[keep], xs[keep]
    if ys.size < HALO_MIN_EDGES:
        return 0.0, int(ys.size)
    smooth = gaussian_filter(luma, 1.0, truncate=3.0)
    gy = smooth[ys + 1, xs] - smooth[ys - 1, xs]  # central differences at the edge points only
    gx = smooth[ys, xs + 1] - smooth[ys, xs - 1]
    mag = np.hypot(gx, gy) + 1e-9
    ny, nx = gy / mag, gx / mag  # unit normal towards the brighter side
    t = np.arange(-HALO_REACH, HALO_REACH + 1, dtype=np.float32)
    py = ys[:, None] + ny[:, None] * t[None, :]
    px = xs[:, None] + nx[:, None] * t[None, :]
    prof = map_coordinates(luma, [py.ravel(), px.ravel()], order=1, mode="nearest").reshape(py.shape)
    c = HALO_REACH
    bright, dark = np.median(prof[:, c + 4:], axis=1), np.median(prof[:, :c - 3], axis=1)
    step = bright - dark
    strong = step >= HALO_STEP
    if strong.sum() < HALO_MIN_EDGES:
        return 0.0, int(strong.sum())
    prof, bright, dark, step = prof[strong], bright[strong], dark[strong], step[strong]
    over = prof[:, c + 1:c + 3].mean(axis=1) - bright
    under = dark - prof[:, c - 2:c].mean(axis=1)
    return float(np.median((over + under) / step)), int(strong.sum())


def measure(scene) -> list:
    """vignette (stops), oversaturation (% of frame), halo (share of the edge step)."""
    v, sectors = vignette_falloff(scene.lin_y)
    halo, n = halo_strength(scene.luma, scene.edges)
    shown = ", ".join(f"{x:+.1f}" for x in sectors)
    return [attribute("vignette", v, "stops", "+.1f", LEVELS["vignette"],
                      f" (corner falloff shared by 7 of 8 sectors; sectors {shown})"),
            attribute("oversaturation", oversaturation(scene.rgb), "% of frame", ".1f", LEVELS["oversaturation"],
                      " (strongly saturated and clipped)"),
            attribute("halo", halo, "of the edge step", ".2f", LEVELS["halo"],
                      f" (overshoot across {n} strong edge points)")]


# ---- the rules ------------------------------------------------------------------------------------

RULES = [
    Rule("processing.vignette", ("color_lighting", "general_impression"), ("vignette",),
         lambda v: v["vignette"] >= VIGNETTE_HEAVY,
         ("a heavy vignette darkens the corners",
          "the vignetting is strong, closing in on every corner of the frame",
          "the dark vignette around the edges feels heavy",
          "the corners fall away into a strong vignette"),
         r"vignett",
         ("ease the vignette back so it guides the eye without showing",
          "keep any darkening of the edges subtle, or correct the lens falloff",
          "lighten the edges until the effect is barely noticed"),
         problem=True, weight=1.0),
    Rule("processing.oversaturated", ("color_lighting",), ("oversaturation",),
         lambda v: v["oversaturation"] >= OVERSATURATED,
         ("the colours are oversaturated, with about {pct} of the frame pushed past what the file can hold",
          "saturation has been pushed too far: about {pct} of the picture is clipped, flat colour",
          "over-saturated colour blocks up about {pct} of the image, losing its gradations"),
         r"oversaturated|saturation has been pushed|over-saturated",
         ("pull the saturation back", "ease off the saturation, or use vibrance for a gentler boost",
          "reduce the saturation until the strongest colours show texture again"),
         problem=True, weight=1.0, fill=lambda v: {"pct": percent(v.get("oversaturation", 0.0))}),
    Rule("processing.halos", ("color_lighting", "use_of_camera"), ("halo",),
         lambda v: v["halo"] >= HALOS,
         ("bright and dark halos run along the strong edges",
          "the edges carry halos, a sign of heavy sharpening or tone mapping",
          "haloing along the outlines gives the processing away"),
         r"halos\b|haloing",
         ("sharpen with a smaller radius and a lighter amount",
          "ease the sharpening and the local contrast back",
          "tone map more gently, or mask the effect away from the outlines"),
         problem=True, weight=1.0),
    Rule("processing.natural", ("color_lighting",), ("vignette", "oversaturation", "halo"),
         lambda v: (abs(v["vignette"]) < VIGNETTE_NONE and v["oversaturation"] < SATURATION_CLEAN
                    and v["halo"] < HALO_CLEAN),
         ("the processing is restrained and natural",
          "the editing has a light touch, with nothing overdone",
          "post-processing stays invisible, as it should"),
         r"processing is restrained|light touch|post-processing stays invisible"),
]
EXCLUSIVE = [("processing.vignette", "processing.natural"), ("processing.oversaturated", "processing.natural"),
             ("processing.halos", "processing.natural")]


# ---- controlled edits -----------------------------------------------------------------------------

def _linear(a):
    return np.where(a <= 0.04045, a / 12.92, ((a + 0.055) / 1.055) ** 2.4)


def _srgb(x):
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def _photo(a):
    from PIL import Image

    return Image.fromarray((np.clip(a, 0, 1) * 255 + 0.5).astype(np.uint8))


def vignette(photo, stops: float):
    """Darken a PIL photo towards the corners: linear light times 2**(-stops r^2), r = 1 at the corners."""
    rgb = np.asarray(photo, dtype=np.float32) / 255.0
    r, _ = _radius_angle(rgb.shape[:2])
    return _photo(_srgb(_linear(rgb) * (2.0 ** (-stops * r * r))[..., None]))


def saturate(photo, factor: float):
    """Scale every pixel's distance from its grey (Rec. 709 luma) by `factor`, clipping as an 8-bit file does."""
    rgb = np.asarray(photo, dtype=np.float32) / 255.0
    y = (rgb @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32))[..., None]
    return _photo(y + factor * (rgb - y))


def oversharpen(photo, radius: float = 2.5, amount: float = 3.0):
    """A strong unsharp mask (radius px, amount as a multiple: 3 = 300%)."""
    from PIL import ImageFilter

    return photo.filter(ImageFilter.UnsharpMask(radius=radius, percent=int(round(100 * amount)), threshold=0))


def tone_map(photo, compress: float = 0.5, boost: float = 1.8, scale: float = 0.006):
    """Crude local tone mapping: log luminance split by a Gaussian (sigma `scale` of the longer side)
    into base and detail, the base's contrast scaled by `compress` and the detail's by `boost`.  A
    Gaussian base (no edge-preserving filter) leaks across edges: the classic overdone-HDR halo."""
    from scipy.ndimage import gaussian_filter

    rgb = np.asarray(photo, dtype=np.float32) / 255.0
    lin = _linear(rgb)
    y = np.maximum(lin @ np.array([0.2126, 0.7152, 0.0722], dtype=np.float32), 1e-4)
    logy = np.log2(y)
    base = gaussian_filter(logy, scale * max(photo.size))
    mid = float(np.median(base))
    new = mid + compress * (base - mid) + boost * (logy - base)
    return _photo(_srgb(lin * (2.0 ** (new - logy))[..., None]))


# a halo edit reads when the overshoot grows by a tenth of the step (the spread between photos of the
# untouched measure is larger, but the same photo's is small)
HALO_READ = 0.10


# Doubling the saturation pushes colour out of the gamut only where there is colour to push: photos
# at least "moderately colourful" on Hasler and Suesstrunk's scale (M >= 33).
SATURATE_APPLIES = 33.0
# How much clipped colour a doubling adds depends on how much strong colour there was; reading it means
# leaving the "none" level: at least 1% of the frame more (twice that level's bound).
SATURATE_READ = 1.0


def _colourful(before) -> bool:
    return before["colourfulness"] >= SATURATE_APPLIES


CHECKS = [
    EditCheck("add a 1-stop vignette", lambda p, s, rng: vignette(p, 1.0),
              lambda b, a: 0.65 <= a["vignette"] - b["vignette"] <= 1.35, ("processing.vignette",)),
    EditCheck("double the saturation", lambda p, s, rng: saturate(p, 2.0),
              lambda b, a: a["oversaturation"] - b["oversaturation"] >= SATURATE_READ, ("processing.oversaturated",),
              _colourful),
    EditCheck("over-sharpen (radius 2.5, amount 3)", lambda p, s, rng: oversharpen(p),
              lambda b, a: a["halo"] - b["halo"] >= HALO_READ, ("processing.halos",)),
    EditCheck("heavy local tone mapping", lambda p, s, rng: tone_map(p),
              lambda b, a: a["halo"] - b["halo"] >= HALO_READ, ("processing.halos",)),
]
