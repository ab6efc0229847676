"""Motion: directional blur (camera shake, a moving subject, panning) told apart from defocus.

Defocus blurs every direction alike; a moving camera or subject blurs along one line only.  The
measurement reads that difference from the local power spectrum of luma: in each orientation it
takes the ratio of fine-detail power (0.10-0.30 cycles/px on the working copy) to coarse power
(0.02-0.05 cycles/px).  A natural photo keeps roughly the same ratio in every orientation (power
falls ~1/f^2 whatever the direction, and the ratio cancels how much structure runs each way); a
streak of length L along direction theta removes the fine band only along theta (its transfer
function is sinc(L f cos(angle to theta))), so the ratio dips by 10-20 dB there and not across it.
The anisotropy is the peak-to-trough size of the 180-degree harmonic of that ratio: the 90-degree
(four-fold) pattern that separable resampling, JPEG blocks and sensor grids leave on the spectrum
drops out of it.  Related: blur direction from the spectrum (Cannon 1976; Moghaddam & Jamzad 2007);
the gradient structure tensor gives the same information less robustly on textured photos.

Frozen motion (a fast shutter stopping a moving subject) is not measured: nothing in one frame says
that something was moving, so no claim about it is made.  Nor, for now, is subject motion against a
steady background (or panning, the reverse): the same spectrum split into subject and background
tiles was too noisy on real photos (see docs/MEASUREMENTS.md), so only a frame-wide claim is made.
"""

from __future__ import annotations

import math

import numpy as np

from ..rule import Rule
from .scene import EditCheck, absent, attribute

# ---- thresholds -----------------------------------------------------------------------------------
TILE = 64                 # spectrum tiles (px of the working copy), half-overlapping, Hann-windowed
FINE, COARSE = (0.10, 0.30), (0.02, 0.05)  # cycles/px: a 7 px streak (1.5% of 512) zeroes the fine band
ORIENTATIONS = 12         # 15-degree orientation bins over 0-180 degrees
# Anisotropy (dB, peak to trough of the fine/coarse ratio over orientation).  Untouched photos lie
# mostly under 5 dB (directional textures such as ripples or wood grain reach ~8); a streak of 1.5%
# of the frame gives 7-19 dB.  7 dB is called directional blur; under 4 dB none; the direction is
# reported from 3 dB, below which it is noise.
STREAKED, STEADY, DIRECTION_FROM = 7.0, 4.0, 3.0
# Fine/coarse ratio across the streaks (the sharpest orientation), dB.  Untouched photos lie around
# -8 to -21 dB (power ~1/f^2); defocus drops every direction to -25..-47 dB while a streak leaves the
# cross direction near its original level.  Below -26 dB the frame is soft in every direction, so an
# anisotropy there is the residue of defocus, not motion.
CROSS_SOFT = -26.0

INF = math.inf
LEVELS = {
    "motion_blur": ((STEADY, "none"), (STREAKED, "slight"), (12.0, "directional blur"), (INF, "strong streaking")),
    "motion_direction": ((22.5, "horizontal"), (67.5, "diagonal, rising to the right"), (112.5, "vertical"),
                         (157.5, "diagonal, falling to the right"), (INF, "horizontal")),
    "cross_detail": ((CROSS_SOFT, "soft in every direction"), (-15.0, "moderate"), (INF, "detailed")),
}
ABSOLUTE: set = set()


# ---- the measurement ------------------------------------------------------------------------------

def _tiles(luma: np.ndarray, tile: int = TILE):
    """Half-overlapping tiles (N, tile, tile), mean removed, Hann-windowed, and their (y, x) corners."""
    h, w = luma.shape
    t = min(tile, h, w) // 2 * 2
    ys = range(0, max(1, h - t + 1), t // 2)
    xs = range(0, max(1, w - t + 1), t // 2)
    corners = [(y, x) for y in ys for x in xs]
    stack = np.stack([luma[y:y + t, x:x + t] for y, x in corners]).astype(np.float32)
    stack -= stack.mean(axis=(1, 2), keepdims=True)
    win = np.outer(np.hanning(t), np.hanning(t)).astype(np.float32)
    return stack * win, corners, t


def _bands(t: int):
    """Orientation bin of each rfft2 frequency and the fine and coarse band masks (tile size t)."""
    fy = np.fft.fftfreq(t)[:, None]
    fx = np.fft.rfftfreq(t)[None, :]
    f = np.hypot(fx, fy)
    phi = np.degrees(np.arctan2(-fy, fx)) % 180.0  # as displayed: 0 horizontal, 90 vertical (y down)
    width = 180.0 / ORIENTATIONS
    bins = (np.floor((phi + width / 2) / width) % ORIENTATIONS).astype(int)
    fine = (f >= FINE[0]) & (f <= FINE[1])
    coarse = (f >= COARSE[0]) & (f <= COARSE[1])
    return bins, fine, coarse


def directional(power: np.ndarray, bins, fine, coarse) -> tuple[float, float, float]:
    """From a summed power spectrum: (anisotropy dB, streak direction in degrees 0-180, fine/coarse
    ratio across the streaks in dB)."""
    def per_bin(mask):
        n = np.bincount(bins[mask], minlength=ORIENTATIONS)
        return np.bincount(bins[mask], power[mask], ORIENTATIONS) / np.maximum(n, 1)

    ratio = 10 * np.log10((per_bin(fine) + 1e-12) / (per_bin(coarse) + 1e-12))
    c1 = (ratio * np.exp(2j * np.pi * np.arange(ORIENTATIONS) / ORIENTATIONS)).sum() * 2 / ORIENTATIONS
    # ratio ~ mean + |c1| cos(2 phi - arg c1): the dip (the streaks' direction) is 90 degrees from the peak
    direction = (math.degrees(float(np.angle(c1))) / 2 + 90.0) % 180.0
    return 2 * float(abs(c1)), direction, float(ratio.max())


def motion_values(luma: np.ndarray) -> dict:
    """{motion_blur dB, motion_direction degrees, cross_detail dB} of a luma image (0-1)."""
    stack, _, t = _tiles(luma)
    power = (np.abs(np.fft.rfft2(stack)) ** 2).sum(axis=0)
    aniso, direction, cross = directional(power, *_bands(t))
    return {"motion_blur": aniso, "motion_direction": direction, "cross_detail": cross}


def measure(scene) -> list:
    """motion_blur (dB), motion_direction (degrees, absent without directional blur) and cross_detail (dB)."""
    m = motion_values(scene.luma)
    found = [attribute("motion_blur", m["motion_blur"], "dB", ".1f", LEVELS["motion_blur"],
                       " (directional loss of fine detail)")]
    if m["motion_blur"] >= DIRECTION_FROM:
        found.append(attribute("motion_direction", m["motion_direction"], "degrees", ".0f",
                               LEVELS["motion_direction"], " (0 horizontal, 90 vertical)"))
    else:
        found.append(absent("motion_direction", "degrees", "no direction", "motion direction: no directional blur"))
    found.append(attribute("cross_detail", m["cross_detail"], "dB", ".1f", LEVELS["cross_detail"],
                           " (fine/coarse detail across the blur)"))
    return found


# ---- the rules ------------------------------------------------------------------------------------

RULES = [
    Rule("motion.shake", ("use_of_camera", "focus"), ("motion_blur", "cross_detail"),
         lambda v: v["motion_blur"] >= STREAKED and v["cross_detail"] >= CROSS_SOFT,
         ("camera shake has smeared the whole frame in one direction",
          "the entire picture carries directional streaks from camera shake",
          "everything is dragged along one line, the telltale sign of camera shake",
          "the camera moved during the exposure, so the whole scene is streaked one way"),
         r"camera shake|camera moved during the exposure",
         ("use a faster shutter speed or brace the camera", "steady the camera on a tripod or a wall",
          "raise the shutter speed to at least one over the focal length, or turn on stabilisation"),
         problem=True, weight=2.0),
    Rule("motion.steady", ("use_of_camera",), ("motion_blur",),
         lambda v: v["motion_blur"] < STEADY,
         ("the camera was held steady, with no directional smearing",
          "there is no trace of streaking from movement",
          "the frame shows no motion smear in any direction"),
         r"held steady|no trace of streaking|no motion smear"),
]
EXCLUSIVE = [("motion.shake", "motion.steady")]


# ---- controlled edits -----------------------------------------------------------------------------

def line_kernel(length: float, angle: float) -> np.ndarray:
    """A normalised line (box) kernel `length` px long at `angle` degrees (0 horizontal, counter-
    clockwise as displayed), anti-aliased by drawing it 4x supersampled and area-reducing."""
    from PIL import Image

    n = int(math.ceil(length)) // 2 * 2 + 1
    big = np.zeros((4 * n, 4 * n), dtype=np.float32)
    c = (4 * n - 1) / 2
    a = math.radians(angle)
    t = np.linspace(-2 * length, 2 * length, max(64, int(16 * length)))
    ys = np.clip(np.round(c - t * math.sin(a)).astype(int), 0, 4 * n - 1)
    xs = np.clip(np.round(c + t * math.cos(a)).astype(int), 0, 4 * n - 1)
    np.add.at(big, (ys, xs), 1.0)
    k = np.asarray(Image.fromarray(big, mode="F").resize((n, n), Image.BOX))
    return k / k.sum()


def _convolve_rgb(photo, kernel: np.ndarray) -> np.ndarray:
    from scipy.signal import fftconvolve

    a = np.asarray(photo, dtype=np.float32)
    p = kernel.shape[0] // 2
    padded = np.pad(a, ((p, p), (p, p), (0, 0)), mode="reflect")
    return np.stack([fftconvolve(padded[..., i], kernel, mode="valid") for i in range(3)], axis=-1)


def _to_photo(a: np.ndarray):
    from PIL import Image

    return Image.fromarray(np.clip(a + 0.5, 0, 255).astype(np.uint8))


def motion_blur(photo, length: float, angle: float):
    """Streak a PIL photo along `angle` degrees (0 horizontal, counter-clockwise) over `length` px:
    a linear move of the camera during the exposure."""
    return _to_photo(_convolve_rgb(photo, line_kernel(length, angle)))


def defocus(photo, sigma: float):
    """An isotropic Gaussian blur of `sigma` px: defocus, blurring every direction alike (scipy's exact
    Gaussian: a separable box approximation would itself leave a directional pattern)."""
    from scipy.ndimage import gaussian_filter

    a = np.asarray(photo, dtype=np.float32)
    return _to_photo(gaussian_filter(a, (sigma, sigma, 0), mode="reflect"))


def streak_length(photo) -> float:
    """The check edits' streak: 15 px on a 1024-px photo, 1.5% of the longer side above that (and
    never under 15 px, so small photos still show a visible streak)."""
    return max(15.0, 0.015 * max(photo.size))


def _shake(photo, saliency, rng):
    return motion_blur(photo, streak_length(photo), rng.uniform(0.0, 180.0))


def _shake_reads(before, after):
    return after["motion_blur"] >= STREAKED and after["motion_blur"] > before["motion_blur"]


def _defocus(photo, saliency, rng):
    return defocus(photo, streak_length(photo) / math.sqrt(12))  # the streak's standard deviation


CHECKS = [
    EditCheck("streak the whole frame (camera shake)", _shake,
              lambda b, a: _shake_reads(b, a) and a.get("motion_direction") is not None,
              ("motion.shake",)),
    # the teacher must not call defocus shake: it says the frame is soft, or that nothing streaks
    EditCheck("defocus of the same strength (not motion)", _defocus,
              lambda b, a: not RULES[0].holds(a), ("motion.steady", "sharpness.soft")),
]
