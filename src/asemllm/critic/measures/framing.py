"""Framing: where the frame's edges fall around the subject, and what the space around it does.

Measured on the `Scene`'s saliency map, its subject region (the smallest set of pixels holding half
the saliency) and luminance, all on the working copy:

- `edge_cut`: % of the subject's saliency mass lying in the outer band (4% of the shorter side) along
  one edge, the worst edge: a subject cut by the frame keeps its salient mass against that edge.
- `subject_margin`: the smallest gap between the subject's extent (5th-95th percentiles of its
  saliency mass across and down) and the frame's edges, % of that side: how tightly it is framed.
- `negative_space`: % of the frame that is both unremarkable (saliency under half the frame's mean)
  and plain (no edges and little local tonal variation): empty room around the subject.
- `frame_within`: stops by which a hard-edged darker surround (doorway, arch, branches) falls below
  what it encloses, on the weakest of the three most framed sides: a frame within the frame.

The controlled edits that prove them are plain functions here (`cut_crop`, `tight_crop`, `loosen`,
`dark_frame`) so the critic's training data and `critic eval` can reuse them.
"""

from __future__ import annotations

import math

import numpy as np

from ..rule import Rule, between, percent
from .scene import EditCheck, attribute

INF = math.inf

# ---- thresholds ----------------------------------------------------------------------------------
# The outer band, as a fraction of the frame's shorter side: a few % is where a subject reads as
# touching the edge (and narrower than a border a careful photographer leaves).
BAND = 0.04
# edge_cut, % of the subject's saliency mass in one edge's band. The band is 4% of the frame, so a
# subject spread evenly over the whole frame puts ~4% there; a subject sliced by the edge puts a
# large part of its salient mass there (a face cut in half: a fifth or more).
CUT_CLEAR, CUT_SLIGHT, CUT_STRONG = 3.0, 8.0, 14.0
# subject_margin, % of the side: under 4% the subject's body runs right up to an edge (a tight
# crop); a fifth of the frame on every side is generous room.
MARGIN_TIGHT, MARGIN_ROOMY = 4.0, 20.0
# negative_space, % of the frame: saliency under half the frame's mean density counts as ignored;
# local luma std under 2.5% (about 6 levels of 255) and no Canny edge within 2 px as plain.
QUIET_SALIENCY, PLAIN_STD = 0.5, 0.025
# Over ~40% of the frame empty is a deliberate use of space; over 65% empty around a small subject
# leaves it floating in too much room.
SPACE_USED, SPACE_EMPTY = 40.0, 65.0
# frame_within, stops: a surround 1.2 stops darker than what it encloses, with a hard inner edge,
# on three sides, is plainly seen as a frame (a vignette is gradual and reads lower).
FRAMED = 1.2
# frame profile depths, fraction of the side: a frame's inner edge lies 4-30% in from the edge.
FRAME_DEPTHS = (0.04, 0.30)

LEVELS = {
    "edge_cut": ((CUT_CLEAR, "clear of the edges"), (CUT_SLIGHT, "near an edge"), (CUT_STRONG, "touching an edge"),
                 (INF, "cut by the edge")),
    "subject_margin": ((MARGIN_TIGHT, "tight"), (MARGIN_ROOMY, "moderate room"), (INF, "generous room")),
    "negative_space": ((15.0, "little"), (SPACE_USED, "some"), (SPACE_EMPTY, "plenty"), (INF, "mostly empty")),
    "frame_within": ((0.6, "none"), (FRAMED, "weak"), (INF, "framed")),
}
ABSOLUTE: set = set()
EDGES = ("top", "bottom", "left", "right")


# ---- measurements ----------------------------------------------------------------------------------

def _bands(shape) -> dict[str, tuple[slice, slice]]:
    h, w = shape
    b = max(1, round(BAND * min(h, w)))
    return {"top": (slice(0, b), slice(None)), "bottom": (slice(h - b, h), slice(None)),
            "left": (slice(None), slice(0, b)), "right": (slice(None), slice(w - b, w))}


def edge_cut(sal: np.ndarray, subject: np.ndarray) -> tuple[float, str]:
    """(% of the subject's saliency mass in the worst edge's band, that edge)."""
    inside = np.where(subject, sal, 0.0)
    total = float(inside.sum())
    if total <= 0:
        return 0.0, "top"
    shares = {e: 100.0 * float(inside[sl].sum()) / total for e, sl in _bands(sal.shape).items()}
    worst = max(shares, key=shares.get)
    return shares[worst], worst


def _quantiles(weights: np.ndarray, qs) -> list[float]:
    """Positions (0-1, pixel centres) at which the cumulative weight reaches each q."""
    c = np.cumsum(weights)
    if c[-1] <= 0:
        return [0.5 for _ in qs]
    n = len(weights)
    return [(float(np.searchsorted(c, q * c[-1])) + 0.5) / n for q in qs]


def margins(sal: np.ndarray, subject: np.ndarray) -> dict[str, float]:
    """The gaps (% of each side) between the subject's extent (5th-95th percentile of its saliency
    mass across and down, so stray specks do not count) and each edge of the frame."""
    inside = np.where(subject, sal, 0.0)
    x0, x1 = _quantiles(inside.sum(axis=0), (0.05, 0.95))
    y0, y1 = _quantiles(inside.sum(axis=1), (0.05, 0.95))
    return {"top": 100 * y0, "bottom": 100 * (1 - y1), "left": 100 * x0, "right": 100 * (1 - x1)}


def negative_space(sal: np.ndarray, luma: np.ndarray, edges: np.ndarray) -> float:
    """% of the frame both ignored (saliency under QUIET_SALIENCY x the mean) and plain (local luma
    std under PLAIN_STD over ~2% of the frame, no edge within 2 px)."""
    from scipy.ndimage import binary_dilation, uniform_filter

    k = max(3, round(0.02 * max(luma.shape)) | 1)
    m = uniform_filter(luma, k)
    std = np.sqrt(np.maximum(uniform_filter(luma * luma, k) - m * m, 0.0))
    quiet = sal < QUIET_SALIENCY / sal.size
    near_edge = binary_dilation(edges, iterations=2)
    return 100.0 * float((quiet & (std < PLAIN_STD) & ~near_edge).mean())


def frame_within(lin_y: np.ndarray) -> tuple[float, int]:
    """Stops by which a darker surround with a hard inner edge falls below what lies just inside
    it, per side: the largest jump, over inner-edge depths FRAME_DEPTHS, between the mean log2
    luminance of the band outside the depth and of the next 6% inside it (along the middle 40% of
    the side). -> (the third-strongest side's jump, sides over FRAMED): a frame encloses on three
    sides or four."""
    h, w = lin_y.shape
    logy = np.log2(np.maximum(lin_y, 1.0 / 4096))
    # each profile runs along the middle 40% of the other axis, clear of the other sides' frames
    rows = logy[:, round(0.3 * w):max(round(0.7 * w), round(0.3 * w) + 1)].mean(axis=1)
    cols = logy[round(0.3 * h):max(round(0.7 * h), round(0.3 * h) + 1)].mean(axis=0)
    profiles = [rows, rows[::-1], cols, cols[::-1]]  # from each edge inwards
    jumps = []
    for p in profiles:
        n = len(p)
        c = np.concatenate([[0.0], np.cumsum(p)])
        lo, hi, step = max(1, round(FRAME_DEPTHS[0] * n)), max(2, round(FRAME_DEPTHS[1] * n)), max(1, round(0.06 * n))
        d = np.arange(lo, max(lo, min(hi, n - step)) + 1)
        d = d[d + step <= n]
        jump = (c[d + step] - c[d]) / step - c[d] / d if d.size else np.zeros(1)
        best = max(0.0, float(jump.max()))
        jumps.append(best)
    jumps.sort(reverse=True)
    return float(jumps[2]), sum(j >= FRAMED for j in jumps)


def measure(scene) -> list:
    sal, subject = scene.saliency, scene.subject
    cut, edge = edge_cut(sal, subject)
    gaps = margins(sal, subject)
    side = min(gaps, key=gaps.get)
    space = negative_space(sal, scene.luma, scene.edges)
    frame, sides = frame_within(scene.lin_y)
    room = ", ".join(f"{e} {gaps[e]:.0f}%" for e in EDGES)
    return [
        attribute("edge_cut", cut, "% of subject saliency", ".1f", LEVELS["edge_cut"], f" along the {edge} edge"),
        attribute("subject_margin", gaps[side], "% of the side", ".1f", LEVELS["subject_margin"],
                  f" on the {side} ({room})"),
        attribute("negative_space", space, "% of frame", ".0f", LEVELS["negative_space"], " (plain and unremarkable)"),
        attribute("frame_within", frame, "stops", ".1f", LEVELS["frame_within"],
                  f" (darker hard-edged surround on {sides} sides)"),
    ]


# ---- controlled edits ------------------------------------------------------------------------------

def _subject_at(photo, saliency: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The saliency map at the photo's size (summing to 1) and its subject region."""
    from .scene import saliency_at as _saliency_at, subject_mask

    sal = _saliency_at(saliency, None, (photo.height, photo.width))
    return sal, subject_mask(sal)


def cut_crop(photo, saliency: np.ndarray, axis: str = "x"):
    """Crop one side so the new frame's edge runs through the subject's saliency centroid (half
    the subject falls outside), keeping the larger part of the frame: a subject cut by the frame.
    `axis` "x" moves the left or right edge, "y" the top or bottom."""
    sal, _ = _subject_at(photo, saliency)
    w, h = photo.size
    if axis == "x":
        cx = float(sal.sum(axis=0) @ np.arange(w)) + 0.5
        box = (round(cx), 0, w, h) if cx < w / 2 else (0, 0, round(cx), h)
    else:
        cy = float(sal.sum(axis=1) @ np.arange(h)) + 0.5
        box = (0, round(cy), w, h) if cy < h / 2 else (0, 0, w, round(cy))
    return photo.crop(box)


def tight_crop(photo, saliency: np.ndarray, margin: float = 0.02):
    """Crop to the subject's extent (5th-95th percentile of its saliency mass) plus `margin` of
    each side: a subject framed with no room to spare."""
    sal, subject = _subject_at(photo, saliency)
    inside = np.where(subject, sal, 0.0)
    x0, x1 = _quantiles(inside.sum(axis=0), (0.05, 0.95))
    y0, y1 = _quantiles(inside.sum(axis=1), (0.05, 0.95))
    w, h = photo.size
    box = (max(0, round((x0 - margin) * w)), max(0, round((y0 - margin) * h)),
           min(w, round((x1 + margin) * w)), min(h, round((y1 + margin) * h)))
    if box[2] - box[0] < 16 or box[3] - box[1] < 16:
        return photo
    return photo.crop(box)


def loosen(photo, pad: float = 0.3, blur: float = 0.03):
    """A wider view: the frame extended by `pad` of its size on every side with its own mirrored
    surroundings, blurred (radius `blur` of the longer side) as an out-of-focus surround would be,
    so the subject keeps its size in pixels but gets far more room."""
    from PIL import Image, ImageFilter

    w, h = photo.size
    px, py = round(pad * w), round(pad * h)
    arr = np.pad(np.asarray(photo.convert("RGB")), ((py, py), (px, px), (0, 0)), mode="symmetric")
    out = Image.fromarray(arr)
    soft = out.filter(ImageFilter.GaussianBlur(blur * max(out.size)))
    soft.paste(photo.convert("RGB"), (px, py))
    return soft


def dark_frame(photo, depth: float = 0.12, stops: float = 3.0, sides: str = "tlr"):
    """Darken a band `depth` of the frame deep along the given sides (t, b, l, r) by `stops` in
    linear light, with a hard inner edge: shooting through a doorway or an arch."""
    from PIL import Image

    from ..edits import to_srgb as _to_srgb
    from .scene import linear as _linear

    rgb = np.asarray(photo.convert("RGB"), dtype=np.float32) / 255.0
    h, w = rgb.shape[:2]
    mask = np.zeros((h, w), dtype=bool)
    dy, dx = round(depth * h), round(depth * w)
    if "t" in sides:
        mask[:dy] = True
    if "b" in sides:
        mask[h - dy:] = True
    if "l" in sides:
        mask[:, :dx] = True
    if "r" in sides:
        mask[:, w - dx:] = True
    lin = _linear(rgb)
    lin[mask] *= 2.0 ** -stops
    return Image.fromarray((np.clip(_to_srgb(lin), 0, 1) * 255 + 0.5).astype(np.uint8))


# ---- the teacher's rules (composition) -------------------------------------------------------------

def _space(v):
    return {"pct": percent(v.get("negative_space", 0.0))}


RULES: list[Rule] = [
    Rule("framing.cut", ("composition",), ("edge_cut",),
         lambda v: v["edge_cut"] >= CUT_STRONG,
         ("{subject} is cut off by the edge of the frame",
          "the edge of the frame slices through {subject}",
          "part of {subject} is chopped off at the border"),
         r"cut off by the edge|slices through|chopped off",
         ("step back or recompose so all of it fits", "leave a little room between it and the border",
          "reframe so the border does not run through it"),
         problem=True, weight=1.5),
    Rule("framing.tight", ("composition",), ("subject_margin", "edge_cut"),
         lambda v: v["subject_margin"] < MARGIN_TIGHT and v["edge_cut"] < CUT_STRONG,
         ("{subject} is cropped too tightly", "the framing is cramped around {subject}",
          "{subject} presses against the borders of the picture"),
         r"cropped too tightly|cramped|presses against",
         ("give it a little more breathing room", "zoom out slightly or take a step back",
          "leave some space around it when you crop"),
         problem=True, weight=1.0),
    Rule("framing.negative_space", ("composition",), ("negative_space",),
         between("negative_space", SPACE_USED, SPACE_EMPTY),
         ("negative space, about {pct} of the frame, lets {subject} breathe",
          "the quiet empty space around {subject} gives it room, roughly {pct} of the picture",
          "open space surrounds {subject} and isolates it, about {pct} of the frame"),
         r"negative space|empty space around|open space surrounds", weight=1.0, fill=_space),
    Rule("framing.loose", ("composition",), ("negative_space",),
         lambda v: v["negative_space"] >= SPACE_EMPTY,
         ("{subject} floats in too much empty space, about {pct} of the frame",
          "the frame is mostly empty, about {pct} of it, leaving {subject} adrift",
          "there is more empty room than the picture needs, about {pct} of it"),
         r"too much empty|mostly empty|more empty room",
         ("crop in to tighten the composition", "move closer so it takes up more of the picture",
          "use that space deliberately or crop it away"),
         problem=True, weight=1.0, fill=_space),
    Rule("framing.frame_within", ("composition",), ("frame_within",),
         lambda v: v["frame_within"] >= FRAMED,
         ("a frame within the frame surrounds {subject}",
          "the darker surround works as a natural frame for {subject}",
          "{subject} is framed by the darker shapes around the edges"),
         r"frame within the frame|natural frame|framed by the darker", weight=1.0),
]
EXCLUSIVE: list[tuple[str, ...]] = [("framing.cut", "framing.tight"),
                                    ("framing.negative_space", "framing.loose")]


# ---- the checks that prove them --------------------------------------------------------------------

def _present(v, *names):
    return all(n in v for n in names)


CHECKS: list[EditCheck] = [
    EditCheck("crop through the subject",
              lambda photo, sal, rng: cut_crop(photo, sal, rng.choice("xy")),
              lambda b, a: _present(a, "edge_cut") and a["edge_cut"] >= max(b["edge_cut"] + 5.0, CUT_SLIGHT),
              ("framing.cut",)),
    EditCheck("crop tight around the subject",
              lambda photo, sal, rng: tight_crop(photo, sal, rng.uniform(0.0, 0.02)),
              lambda b, a: _present(a, "subject_margin") and a["subject_margin"] <= min(b["subject_margin"] - 5.0,
                                                                                      MARGIN_ROOMY),
              ("framing.tight", "framing.cut"),
              applies=lambda b: b.get("subject_margin", 0.0) >= 10.0),
    EditCheck("widen the view with a soft surround",
              lambda photo, sal, rng: loosen(photo, rng.uniform(0.25, 0.35)),
              lambda b, a: _present(a, "negative_space") and a["negative_space"] >= b["negative_space"] + 15.0,
              ("framing.negative_space", "framing.loose"),
              applies=lambda b: b.get("negative_space", INF) < SPACE_USED),
    EditCheck("shoot through a dark doorway",
              lambda photo, sal, rng: dark_frame(photo, rng.uniform(0.08, 0.16), 3.0, rng.choice(("tlr", "tblr"))),
              lambda b, a: _present(a, "frame_within") and a["frame_within"] >= b["frame_within"] + 1.0,
              ("framing.frame_within",),
              applies=lambda b: b.get("frame_within", INF) < FRAMED),
]
