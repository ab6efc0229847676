"""Fixation density maps: a Gaussian of about one degree of visual angle around each fixation.

Points follow ``datasets.py``: ``(N, 2)`` float ``(x, y)``, 0-based, measured from the image's
top-left corner, pixel ``(i, j)`` covering ``[j, j+1) x [i, i+1)``; shapes are ``(height, width)``.
"""

from __future__ import annotations

import numpy as np

# (pixels per degree of visual angle, at this length of the image's longer side). The images are
# assumed shown whole, so one degree is a fixed fraction of the longer side; sigma_for scales it.
_ONE_DEGREE = {
    # Judd et al. 2009 (ICCV, "Learning to predict where humans look"): stimuli shown unscaled
    # (longer side 1024 px) on a 1280x1024 19-inch screen, one degree ~ 35 px; the MIT benchmark
    # blurs its fixation maps by that one degree. MIT300 was recorded with the same set-up.
    "mit1003": (35.0, 1024),
    "mit300": (35.0, 1024),
    # SALICON (Jiang et al. 2015) is mouse tracking, no eye tracker or viewing distance to speak
    # of; its official API (salicon.py, buildFixMap) blurs the 640x480 fixation maps with
    # sigma = 19 px, which is the convention its benchmark maps follow.
    "salicon": (19.0, 640),
    # CAT2000 (Borji & Itti 2015): 1920x1080 stimuli filling a 42-inch 16:9 screen (~93 x 52 cm)
    # about 106 cm away -> ~47 x 28 degrees -> ~40.5 px/degree horizontally, ~39 vertically.
    # Screen and distance are as we recall the paper (not checkable offline): an assumption.
    "cat2000": (40.0, 1920),
    # NUS scene (Liang, Jiang, Liang & Zhao 2015, 500 SUN2012 photos): each photo was scaled to
    # fit the EyeLink display (their parseEyeData.m); screen size and distance are not published
    # with the data, so we take the MIT convention, 35 px per 1024 px of the longer side. The
    # authors' own fixation maps used sigma = 8 px at 256x256 (their config.m), 32 px per 1024:
    # the same scale within 10%.
    "nus": (35.0, 1024),
    # Generic CSV: nothing known about the display; MIT convention as for NUS.
    "csv": (35.0, 1024),
}


def sigma_for(format: str, shape: tuple[int, int]) -> float:
    """About one degree of visual angle in pixels for an image of ``shape`` (H, W) of a data set.

    ``px_per_degree * max(H, W) / reference_side`` with, per format (sources and assumptions in
    ``_ONE_DEGREE``): mit1003/mit300 35 px at 1024 (Judd et al. 2009), salicon 19 px at 640 (the
    SALICON API's blur), cat2000 40 px at 1920 (42-inch screen at 106 cm, assumed), nus and csv
    35 px at 1024 (display unknown: MIT convention). The image is assumed shown whole, so a
    resized copy gets a proportionally smaller sigma.
    """
    key = format.lower()
    if key not in _ONE_DEGREE:
        raise ValueError(f"no visual-angle convention for {format!r}; known: {sorted(_ONE_DEGREE)}")
    px, side = _ONE_DEGREE[key]
    return px * max(int(shape[0]), int(shape[1])) / side


def resize_points(points: np.ndarray, from_size: tuple[int, int],
                  to_size: tuple[int, int]) -> np.ndarray:
    """Map (x, y) points from an image of ``from_size`` (H, W) onto the same image at ``to_size``.

    Coordinates are measured from the top-left corner, so scaling is exact: x * W2/W1, y * H2/H1
    (an integer pixel index is scaled as its corner; its centre would move half a target pixel).
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    (h0, w0), (h1, w1) = from_size, to_size
    if min(h0, w0, h1, w1) <= 0:
        raise ValueError(f"sizes must be positive, got {from_size} -> {to_size}")
    return pts * np.array([w1 / w0, h1 / h0])


def fixation_counts(points_xy: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """(H, W) float64 number of fixations per pixel; points outside [0, W] x [0, H] are ignored."""
    h, w = int(shape[0]), int(shape[1])
    pts = np.asarray(points_xy, dtype=np.float64).reshape(-1, 2)
    x, y = pts[:, 0], pts[:, 1]
    with np.errstate(invalid="ignore"):
        ok = (x >= 0) & (x <= w) & (y >= 0) & (y <= h)
    # x == W lies on the closed right edge (NUS keeps gaze with x <= width): the last column
    cols = np.minimum(np.floor(x[ok]).astype(np.int64), w - 1)
    rows = np.minimum(np.floor(y[ok]).astype(np.int64), h - 1)
    counts = np.zeros((h, w), dtype=np.float64)
    np.add.at(counts, (rows, cols), 1.0)
    return counts


def density_map(points_xy: np.ndarray, shape: tuple[int, int], sigma_px: float,
                mode: str = "constant") -> np.ndarray:
    """Fixation density: counts per pixel blurred by a Gaussian of ``sigma_px``, summing to 1.

    ``scipy.ndimage.gaussian_filter`` (truncated at 4 sigma) with ``mode='constant'`` by default:
    zero padding, i.e. the part of a kernel that falls off the image is lost (the viewer saw
    nothing there), and the final normalisation shares that loss over the whole map, so a
    fixation at the border weighs slightly less than one in the middle. ``mode='reflect'`` (the
    SALICON API's default) would instead fold it back. ``sigma_px == 0`` gives the normalised
    counts. Cost grows with H * W * sigma: build maps at the working resolution
    (``resize_points``, ``sigma_for`` on the working shape), not on a 12-megapixel original.
    """
    if sigma_px < 0:
        raise ValueError(f"sigma_px must be >= 0, got {sigma_px}")
    counts = fixation_counts(points_xy, shape)
    if counts.sum() == 0:
        raise ValueError(f"no fixation inside the {shape[1]}x{shape[0]} (w x h) frame")
    if sigma_px > 0:
        from scipy.ndimage import gaussian_filter  # here: importing this module stays light

        counts = gaussian_filter(counts, sigma_px, mode=mode, truncate=4.0)
    return counts / counts.sum()
