"""A face prior for the saliency map: people look at faces first, on almost any photo that has one.

The IASM sees a 128-px copy of the photo and was trained on NUS's scene photos, where faces are
rare and small, so a portrait's face is often not its peak. OpenCV's frontal-face Haar cascade
(Viola & Jones 2001; `haarcascade_frontalface_alt2.xml`, inside the opencv-python-headless wheel,
so nothing is downloaded) finds faces of a few percent of the frame and up in a few milliseconds;
each found face gets a Gaussian blob centred a little above the box's middle (the eyes and nose,
where fixations on a face land), and the blobs together take a fifth of the map's mass.

Settings (a face at least 8% of the shorter side, 5 neighbouring detections) were chosen on the
listed face photos and NUS 001-500: they find the faces of Grace Hopper and the astronaut, and fire
on 3 of the 500 NUS scene photos (a carved ornament, a poster), each a face-like pattern a viewer
would also glance at. A face turned to the side (the cameraman's) is the profile cascade's
(`haarcascade_profileface.xml`, trained on faces looking one way: it also reads the mirrored
photo); it asks 8 neighbouring detections, since at 5 it found a face in a wave of mate's Aqua,
and at 8 it fires on 1 of the 500 NUS photos (230, people in a street).
"""

from __future__ import annotations

import functools

import numpy as np

CASCADE = "haarcascade_frontalface_alt2.xml"
PROFILE = "haarcascade_profileface.xml"
MIN_FACE = 0.08       # of the shorter side: smaller faces are a few pixels at the IASM's input anyway
NEIGHBOURS = 5        # overlapping detections a face needs (fewer: more false faces in textures)
PROFILE_NEIGHBOURS = 8
DETECT_SIDE = 512     # faces are searched on a copy this long at most: a face over 8% of it is >= 40 px
# The share of the map's mass the faces take, when there are any: enough for the peak to land on
# a face (on both portraits found, 0.15 already does), little enough that the subject region (half
# the mass) still holds the person around it: at 0.5 the astronaut's subject region shrank to her
# face (4% of the frame, "too small to hold attention"), at 0.2 it covers 9% (11% without faces).
FACE_MASS = 0.2
SIGMA = 0.25          # of the box's width: the blob's spread (fixations gather on the eyes and nose)
EYE_LINE = 0.42       # of the box's height from its top: the blob's centre


@functools.lru_cache(maxsize=2)
def _cascade(name: str):
    import cv2

    path = cv2.data.haarcascades + name
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        raise RuntimeError(f"OpenCV could not read its face cascade {path} (opencv-python-headless 4.x ships it; 5.x does not)")
    return cascade


def detect_faces(photo) -> list[tuple[float, float, float, float]]:
    """Faces in a PIL photo, frontal and in profile: [(x0, y0, x1, y1)] in the photo's pixels."""
    import cv2

    grey = np.asarray(photo.convert("L"))
    scale = min(1.0, DETECT_SIDE / max(grey.shape))
    if scale < 1.0:
        grey = cv2.resize(grey, (max(1, round(grey.shape[1] * scale)), max(1, round(grey.shape[0] * scale))),
                          interpolation=cv2.INTER_AREA)
    w = grey.shape[1]
    boxes = _found(_cascade(CASCADE), grey, NEIGHBOURS)
    mirrored = [(w - x1, y0, w - x0, y1) for x0, y0, x1, y1 in _found(_cascade(PROFILE), grey[:, ::-1], PROFILE_NEIGHBOURS)]
    for box in _found(_cascade(PROFILE), grey, PROFILE_NEIGHBOURS) + mirrored:
        if not any(_shared(box, other) > 0.5 for other in boxes):  # a face found twice gets one blob
            boxes.append(box)
    return [(x0 / scale, y0 / scale, x1 / scale, y1 / scale) for x0, y0, x1, y1 in boxes]


def _found(cascade, grey: np.ndarray, neighbours: int) -> list[tuple[float, float, float, float]]:
    side = max(1, round(MIN_FACE * min(grey.shape)))
    found = cascade.detectMultiScale(np.ascontiguousarray(grey), scaleFactor=1.1, minNeighbors=neighbours,
                                     minSize=(side, side))
    return [(float(x), float(y), float(x + w), float(y + h)) for x, y, w, h in (found if len(found) else [])]


def _shared(a, b) -> float:
    """The overlap of two boxes as a share of the smaller one."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy / min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))


def face_map(shape: tuple[int, int], boxes, frame: tuple[int, int]) -> np.ndarray:
    """Gaussian blobs (one per box, equal mass) on an (h, w) grid; `boxes` in a frame of (H, W)
    pixels. Sums to 1."""
    h, w = shape
    fy, fx = h / frame[0], w / frame[1]
    ys, xs = np.arange(h) + 0.5, np.arange(w) + 0.5
    out = np.zeros(shape)
    for x0, y0, x1, y1 in boxes:
        cx, cy = (x0 + x1) / 2 * fx, (y0 + EYE_LINE * (y1 - y0)) * fy
        s = max(SIGMA * (x1 - x0) * fx, 0.5)
        blob = np.exp(-0.5 * ((xs[None, :] - cx) ** 2 + (ys[:, None] - cy) ** 2) / s ** 2)
        out += blob / max(blob.sum(), 1e-12)
    return out / max(out.sum(), 1e-12)


def with_faces(sal: np.ndarray, boxes, frame: tuple[int, int]) -> np.ndarray:
    """The map `sal` (sums to 1) with FACE_MASS of its mass moved onto the faces; unchanged without any."""
    if not boxes:
        return sal
    return (1 - FACE_MASS) * sal + FACE_MASS * face_map(sal.shape, boxes, frame)
