"""Lines: the long straight lines of a photo, which way they run, where they lead, and whether its
verticals converge.

The first three from one probabilistic Hough transform (Matas et al. 2000, scikit-image) of the
`Scene`'s Canny edges on the working copy, keeping segments at least a tenth of the frame's
diagonal long:

- `line_strength`: their total length, in frame diagonals (a frame crossed by two long lines ~2).
- `diagonal_lines`: % of that length at 20-70 degrees from horizontal: diagonals read as dynamic,
  horizontals and verticals as calm.
- `leading_lines`: % of the length of the non-horizontal lines whose extension passes within a tenth
  of the diagonal of the subject's saliency centroid: lines that lead the eye to the subject.
- `converging_verticals`: the lean (degrees) of near-vertical lines at the frame's sides (segments
  of OpenCV's line segment detector, for their precise angles), from a length-weighted fit of lean
  against horizontal position; + when they converge towards the top (the
  camera tilted up at a building: keystone distortion), - when they converge towards the bottom.

The three proportions are absent (no claim) where a photo has too few long lines to judge, and the
keystone where it has too few near-vertical lines spread across the frame. The controlled edits are
plain functions here (`keystone`, `rotate_lines`) for the critic's training data and `critic eval`.
"""

from __future__ import annotations

import math

import numpy as np

from ..rule import Rule, degrees
from .scene import EditCheck, absent, attribute

INF = math.inf

# ---- thresholds ----------------------------------------------------------------------------------
# A "long" segment is at least a tenth of the frame diagonal: shorter ones are texture, not lines a
# viewer follows.
LONG = 0.10
# line_strength, frame diagonals: under 0.5 there is less than half a diagonal of long line in the
# whole frame (nothing to organise it); over 2 long lines plainly structure the picture.
LINES_FEW, LINES_STRONG = 0.5, 2.0
# diagonal_lines, % of long-line length at 20-70 degrees: over half is a diagonal composition.
DIAGONAL_BAND, DIAGONAL_MOST = (20.0, 70.0), 50.0
# leading_lines: a line "leads" when its extension passes within a tenth of the diagonal of the
# subject's centroid; near-horizontal lines (< 10 degrees) run across the view rather than into it.
LEAD_RADIUS, LEAD_MIN_ANGLE, LEADING = 0.10, 10.0, 50.0
# converging_verticals: near-vertical = within 10 degrees of vertical (a keystone rarely leans a line
# further); at least 4 such lines with their midpoints spread over 30% of the frame's width are
# needed to fit a fan, and lines more than 3 degrees off the first fit (slanted branches, roofs) are
# dropped before the final fit. Architectural
# photographers correct leans of a couple of degrees; 3 degrees at the frame's sides is plainly seen
# as falling-over buildings, under 1 degree reads as upright.
NEAR_VERTICAL, MIN_VERTICALS, MIN_SPREAD, TRIM = 10.0, 8, 0.3, 3.0
# The near-vertical segments come from OpenCV's line segment detector (LSD; von Gioi et al. 2010),
# at least 5% of the diagonal long: its angles are fitted to each segment's pixels where the Hough
# transform's are quantised to a degree, and it cuts a long line into pieces, hence 8 segments at
# least. On the check photos it read the keystone edit on 85% against the Hough segments' 79%, with
# the same false alarms (docs/MEASUREMENTS.md).
VERTICAL_LONG = 0.05
KEYSTONE, UPRIGHT = 3.0, 1.0
# A near-vertical segment within 1.5% of the width of a side is the frame's own border.
BORDER = 0.015

LEVELS = {
    "line_strength": ((LINES_FEW, "few lines"), (LINES_STRONG, "some lines"), (INF, "strong lines")),
    "diagonal_lines": ((20.0, "few diagonals"), (DIAGONAL_MOST, "some diagonals"), (INF, "mostly diagonal")),
    "leading_lines": ((20.0, "lines lead elsewhere"), (LEADING, "some lines lead to the subject"),
                      (INF, "lines lead to the subject")),
    "converging_verticals": ((UPRIGHT, "upright"), (KEYSTONE, "slightly converging"), (INF, "converging")),
}
ABSOLUTE = {"converging_verticals"}


# ---- measurements ----------------------------------------------------------------------------------

def segments(edges: np.ndarray) -> np.ndarray:
    """Long straight segments of an edge map: (n, 4) array of x0, y0, x1, y1 (pixels)."""
    from skimage.transform import probabilistic_hough_line

    h, w = edges.shape
    diag = math.hypot(w, h)
    theta = np.linspace(-np.pi / 2, np.pi / 2, 180, endpoint=False)
    found = probabilistic_hough_line(edges, threshold=10, line_length=max(10, round(LONG * diag)),
                                     line_gap=max(3, round(0.01 * diag)), theta=theta, rng=0)
    return np.array([(x0, y0, x1, y1) for (x0, y0), (x1, y1) in found], dtype=np.float64).reshape(-1, 4)


def _angles(seg: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(angle from horizontal in degrees 0-90 regardless of direction, length in pixels)."""
    dx, dy = seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]
    return np.degrees(np.arctan2(np.abs(dy), np.abs(dx))), np.hypot(dx, dy)


def leading_share(seg: np.ndarray, centroid: tuple[float, float], diag: float) -> float | None:
    """% of the length of the long non-horizontal lines whose infinite extension passes within
    LEAD_RADIUS diagonals of the centroid (x, y in pixels); None without such lines."""
    ang, length = _angles(seg)
    keep = ang >= LEAD_MIN_ANGLE
    if not keep.any():
        return None
    s, L = seg[keep], length[keep]
    cx, cy = centroid
    dx, dy = s[:, 2] - s[:, 0], s[:, 3] - s[:, 1]
    dist = np.abs(dx * (s[:, 1] - cy) - dy * (s[:, 0] - cx)) / np.maximum(L, 1e-9)
    return 100.0 * float(L[dist <= LEAD_RADIUS * diag].sum() / L.sum())


def vertical_segments(luma: np.ndarray) -> np.ndarray:
    """LSD segments of a luma image (0-1) at least VERTICAL_LONG of its diagonal long: (n, 4) x0, y0, x1, y1."""
    import cv2

    h, w = luma.shape
    found = cv2.createLineSegmentDetector().detect((np.clip(luma, 0, 1) * 255).astype(np.uint8))[0]
    if found is None:
        return np.zeros((0, 4))
    seg = found.reshape(-1, 4).astype(np.float64)
    return seg[np.hypot(seg[:, 2] - seg[:, 0], seg[:, 3] - seg[:, 1]) >= VERTICAL_LONG * math.hypot(w, h)]


def vertical_fan(seg: np.ndarray, width: int) -> float | None:
    """The lean (degrees) of near-vertical lines at the frame's sides, + when they converge
    towards the top: a length-weighted least-squares fit lean = c + k * x (x from -0.5 at the left
    to 0.5 at the right; lean + when the top is to the right), reported as -k / 2. None with fewer
    than MIN_VERTICALS such lines or their midpoints spread over less than MIN_SPREAD of the width."""
    ang, length = _angles(seg)
    # a segment hugging a side of the frame is its border (a scan's edge, a matte), not the scene's
    border = np.minimum(np.minimum(seg[:, 0], seg[:, 2]), width - 1 - np.maximum(seg[:, 0], seg[:, 2])) < BORDER * width
    vert = (ang >= 90.0 - NEAR_VERTICAL) & ~border
    if vert.sum() < MIN_VERTICALS:
        return None
    s, L = seg[vert], length[vert]
    top_first = s[:, 1] <= s[:, 3]
    xt = np.where(top_first, s[:, 0], s[:, 2])
    yt = np.where(top_first, s[:, 1], s[:, 3])
    xb = np.where(top_first, s[:, 2], s[:, 0])
    yb = np.where(top_first, s[:, 3], s[:, 1])
    lean = np.degrees(np.arctan2(xt - xb, np.maximum(yb - yt, 1e-9)))  # + : top to the right
    x = (xt + xb) / 2 / width - 0.5
    if x.max() - x.min() < MIN_SPREAD:
        return None
    keep = np.ones(len(x), dtype=bool)
    for _ in range(2):  # fit, drop lines more than TRIM degrees off the fit (slanted things), refit
        a = np.stack([np.ones(keep.sum()), x[keep]], axis=1) * np.sqrt(L[keep])[:, None]
        (c, k), *_ = np.linalg.lstsq(a, lean[keep] * np.sqrt(L[keep]), rcond=None)
        keep = np.abs(lean - (c + k * x)) <= TRIM
        if keep.sum() < MIN_VERTICALS or np.ptp(x[keep]) < MIN_SPREAD:
            return None
    return float(np.clip(-k / 2, -NEAR_VERTICAL, NEAR_VERTICAL))


def measure(scene) -> list:
    edges = scene.edges
    h, w = edges.shape
    diag = math.hypot(w, h)
    seg = segments(edges)
    ang, length = _angles(seg)
    strength = float(length.sum() / diag)
    out = [attribute("line_strength", strength, "diagonals", ".1f", LEVELS["line_strength"],
                     f" of long straight line ({len(seg)} segments)")]
    sal = scene.saliency
    centroid = (float(sal.sum(axis=0) @ np.arange(w)) + 0.5, float(sal.sum(axis=1) @ np.arange(h)) + 0.5)
    if strength >= LINES_FEW:
        lo, hi = DIAGONAL_BAND
        diagonal = 100.0 * float(length[(ang >= lo) & (ang <= hi)].sum() / length.sum())
        out.append(attribute("diagonal_lines", diagonal, "% of line length", ".0f", LEVELS["diagonal_lines"],
                             " at 20-70 degrees"))
        lead = leading_share(seg, centroid, diag)
        if lead is None:
            out.append(absent("leading_lines", "% of line length", "no slanted lines", "leading lines: none slanted"))
        else:
            out.append(attribute("leading_lines", lead, "% of line length", ".0f", LEVELS["leading_lines"],
                                 " pointing at the subject"))
    else:
        out += [absent("diagonal_lines", "% of line length", "few lines", "diagonal lines: too few lines"),
                absent("leading_lines", "% of line length", "few lines", "leading lines: too few lines")]
    fan = vertical_fan(vertical_segments(scene.luma), w)
    if fan is None:
        out.append(absent("converging_verticals", "degrees", "no verticals",
                          "converging verticals: too few vertical lines"))
    else:
        way = " (towards the top)" if fan > 0 else " (towards the bottom)" if fan < 0 else ""
        out.append(attribute("converging_verticals", fan, "degrees", "+.1f", LEVELS["converging_verticals"],
                             f" lean at the sides{way}", absolute=True))
    return out


# ---- controlled edits ------------------------------------------------------------------------------

def keystone(photo, narrow: float):
    """The perspective of a camera tilted up: the frame's top edge squeezed in by `narrow` of the
    width on each side (bottom kept), so true verticals lean in by about atan(narrow * w / h) at the
    sides. The source quadrilateral is the whole frame, so no empty corners appear."""
    from PIL import Image

    w, h = photo.size
    n = narrow * w
    # QUAD maps a source quadrilateral (upper-left, lower-left, lower-right, upper-right) onto the
    # output rectangle: taking the bottom from a narrower span widens it, so verticals fan out
    # downwards, i.e. converge towards the top.
    return photo.transform((w, h), Image.QUAD, (0, 0, n, h, w - n, h, w, 0), resample=Image.BICUBIC)


def keystone_lean(photo, narrow: float) -> float:
    """The lean (degrees) `keystone(photo, narrow)` gives a true vertical at the frame's sides."""
    w, h = photo.size
    return math.degrees(math.atan(narrow * w / ((1 - 2 * narrow) * h)))


def rotate_lines(photo, angle: float):
    """Rotate by `angle` degrees (counter-clockwise) and crop to the inscribed rectangle (as the
    critic's training data does): horizontals and verticals become diagonals."""
    from ..edits import rotate

    return rotate(photo, angle)


# ---- the teacher's rules (composition) -------------------------------------------------------------
# A line claim needs at least a full diagonal's worth of long line: with less, a share of it is
# a share of almost nothing.
LINES_ENOUGH = 1.0


def _lean(v):
    return {"deg": degrees(v.get("converging_verticals", 0.0))}


def _lined(v) -> bool:
    return v["line_strength"] >= LINES_ENOUGH


RULES: list[Rule] = [
    Rule("lines.diagonal", ("composition",), ("line_strength", "diagonal_lines"),
         lambda v: _lined(v) and v["diagonal_lines"] >= DIAGONAL_MOST,
         ("strong diagonal lines give the frame energy",
          "the diagonals cutting across the picture make it feel dynamic",
          "lines running on the diagonal carry the eye through the frame with a sense of movement"),
         r"diagonal lines|the diagonals|on the diagonal", weight=1.0),
    Rule("lines.calm", ("composition",), ("line_strength", "diagonal_lines"),
         lambda v: _lined(v) and v["diagonal_lines"] < DIAGONAL_BAND[0],
         ("horizontal and vertical lines give the picture a calm, stable structure",
          "the lines run level and upright, so the frame feels orderly and still",
          "a grid of level and upright lines keeps the composition restful"),
         r"calm, stable structure|level and upright", weight=0.5),
    Rule("lines.leading", ("composition",), ("line_strength", "leading_lines"),
         lambda v: _lined(v) and v["leading_lines"] >= LEADING,
         ("the lines in the scene lead the eye to {subject}",
          "leading lines draw the viewer towards {subject}",
          "the converging lines guide the viewer straight to {subject}"),
         r"lead the eye to|leading lines|guide the viewer", weight=1.5),
    Rule("lines.lead_away", ("composition",), ("line_strength", "leading_lines"),
         lambda v: v["line_strength"] >= LINES_STRONG and v["leading_lines"] < 20.0,
         ("the strong lines run past {subject} and take the eye out of the frame",
          "the main lines point away from {subject}, pulling attention out of the picture",
          "the lines carry the eye off the edge instead of towards {subject}"),
         r"take the eye out|point away from|carry the eye off",
         ("shift your position so the lines point at it", "place it where the lines meet",
          "recompose so a line runs into it"),
         problem=True, weight=1.0),
    Rule("lines.converging", ("composition", "use_of_camera"), ("converging_verticals",),
         lambda v: abs(v["converging_verticals"]) >= KEYSTONE,
         ("the verticals converge, leaning by about {deg} at the sides",
          "converging verticals make the upright structures look as if they are falling over, about {deg} out",
          "keystone distortion tips the vertical lines by roughly {deg} at the edges of the frame"),
         r"verticals converge|converging verticals|keystone",
         ("keep the camera back parallel to the building", "correct the perspective in editing",
          "step back and shoot from a higher point, or use a shift lens"),
         problem=True, weight=1.0, fill=_lean),
    Rule("lines.upright", ("composition",), ("converging_verticals",),
         lambda v: abs(v["converging_verticals"]) < UPRIGHT,
         ("the verticals stand straight", "upright lines stay upright, parallel to the frame's sides",
          "the verticals are kept true and parallel"),
         r"verticals stand straight|lines stay upright|verticals are kept true", weight=0.5),
]
EXCLUSIVE: list[tuple[str, ...]] = [("lines.diagonal", "lines.calm"), ("lines.leading", "lines.lead_away"),
                                    ("lines.converging", "lines.upright")]


# ---- the checks that prove them --------------------------------------------------------------------

def _keystone_check(photo, sal, rng):
    return keystone(photo, rng.uniform(0.06, 0.10))


def _keystone_reads(b, a):
    """The lean grew by at least half of what the warp gives a true vertical at the sides (the
    smallest warp, 0.06 of the width on a 4:3 frame, gives about 5 degrees)."""
    return "converging_verticals" in a and a["converging_verticals"] - b["converging_verticals"] >= 2.5


CHECKS: list[EditCheck] = [
    EditCheck("tilt the camera up (keystone)", _keystone_check, _keystone_reads, ("lines.converging",),
              applies=lambda b: "converging_verticals" in b),
    EditCheck("rotate 30 degrees",
              lambda photo, sal, rng: rotate_lines(photo, rng.choice((-30.0, 30.0))),
              lambda b, a: "diagonal_lines" in a and a["diagonal_lines"] >= b["diagonal_lines"] + 20.0,
              ("lines.diagonal",),
              applies=lambda b: b.get("line_strength", 0.0) >= LINES_ENOUGH
              and b.get("diagonal_lines", INF) < DIAGONAL_MOST),
]
