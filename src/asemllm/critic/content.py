"""What the subject is: ImageNet-1k labels from EfficientNet-Lite0 (its full network, head included).

The classifier looks at the subject region (the box around the pixels holding most of the saliency,
with a margin) rather than the whole frame, so a small bird in a wide landscape can still be named.
Class names come from the ImageNet synset list that timm's wheel carries as text (timm itself is
never imported).

What the critique calls the subject: ImageNet's 1,000 classes are fine-grained ("brambling", "tiger
cat", "shoji") and its top class on a photo's subject region is often a near miss (a raccoon read as
a badger, a wine bottle as a shoji). The critique therefore names the subject by a coarse name ("the
bird", "the cat", "the building"): the classes are grouped in `GROUPS` (written down here, after the
WordNet hierarchy ImageNet's synsets come from), a group's probability is the sum of its classes',
and the subject is named by the most probable group when that sum reaches `MIN_CONFIDENCE`. Classes
in no group are never used to name it; the critique then says "the subject". The labelled photos in
tests/critic/subjects.json and scripts/subject_naming.py measure how often the name is right.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIN_CONFIDENCE = 0.7  # below this a group's summed probability names the wrong thing too often (scripts/subject_naming.py)


def _r(a: int, b: int) -> tuple[int, ...]:
    return tuple(range(a, b + 1))


# Coarse names over ImageNet-1k class indices (the classifier's output order). Specific groups first;
# the broad ones ("animal", "vehicle") hold their members and more, and name the subject only when
# no specific group is confident. Scenery classes that a viewer names the same way are grouped too
# (alp and volcano are "the mountain"); classes that name a part or a stand-in for the subject
# (a shoji for a wall of panels, a park bench in a wood, a maze for a garden) are left out.
GROUPS: dict[str, tuple[int, ...]] = {
    "fish": _r(0, 6) + _r(389, 397),
    "bird": _r(7, 24) + _r(80, 100) + _r(127, 146),
    "frog": _r(30, 32),
    "turtle": _r(33, 37),
    "lizard": _r(38, 48),
    "snake": _r(52, 68),
    "spider": _r(70, 77),
    "crab": _r(118, 121) + (125,),
    "dog": _r(151, 268),
    "fox": _r(277, 280),
    "cat": _r(281, 285),
    "big cat": _r(286, 293),
    "bear": _r(294, 297),
    "butterfly": _r(321, 326),
    "insect": _r(300, 320),
    "rabbit": _r(330, 332),
    "monkey": _r(369, 384),
    "elephant": (101, 385, 386),
    "flower": (985, 986),
    "mushroom": (947,) + _r(991, 997),
    "vegetable": _r(936, 946),
    "fruit": _r(948, 957),
    "cup": (504, 967, 968),
    "car": (407, 436, 468, 511, 609, 627, 656, 661, 717, 734, 751, 817),
    "truck": (555, 569, 675, 864, 867),
    "train": (466, 547, 565, 705, 820),
    "boat": (403, 472, 484, 510, 554, 576, 625, 628, 724, 780, 814, 833, 871, 914),
    "aircraft": (404, 405, 895),
    "rocket": (657, 744, 812),
    "bridge": (821, 839, 888),
    "building": (410, 415, 424, 425, 442, 449, 454, 467, 483, 497, 498, 500, 538, 580, 582, 624, 634, 660,
                 663, 668, 698, 727, 743, 762, 788, 832, 853, 858, 860, 865, 900, 915),
    "mountain": (970, 980),
    "valley": (979,),
    "coast": (460, 975, 976, 977, 978),
    "cliff": (972,),
    "field": (958, 984, 987, 595, 856),
    "fence": (489, 716, 912),
    "wall": (825,),
    "person": (399, 400, 445, 457, 465, 474, 501, 578, 601, 608, 610, 614, 617, 638, 639, 652, 655, 689,
               697, 735, 775, 834, 841, 842, 869, 887, 906, 981, 982, 983),
}
BROAD: dict[str, tuple[int, ...]] = {
    "animal": _r(0, 397),
    "vehicle": (407, 436, 444, 468, 511, 555, 569, 573, 575, 609, 612, 627, 654, 656, 661, 665, 670, 671,
                675, 717, 734, 751, 757, 779, 817, 864, 866, 867, 870, 874, 880),
}
INSTALL = "pip install --no-deps timm==1.0.31  (only its ImageNet class-name files are read)"


@dataclass(frozen=True)
class Content:
    label: str          # the first lemma of the top class, e.g. "tabby"
    confidence: float   # its softmax probability
    top5: list          # [(label, probability), ...]
    box: tuple          # (left, top, right, bottom) of the region classified, in photo pixels
    name: str | None = None   # the coarse name of the most probable group (GROUPS, then BROAD)
    name_confidence: float = 0.0  # its summed probability


def coarse_name(probs, threshold: float = MIN_CONFIDENCE) -> tuple[str | None, float]:
    """(name, summed probability) of the most probable specific group, or of the most probable broad
    group where no specific one reaches `threshold` and the broad one does; (None, 0.0) if no class
    of any group has probability."""
    p = np.asarray(probs, dtype=np.float64)
    best = max(((float(p[list(ix)].sum()), g) for g, ix in GROUPS.items()), default=(0.0, None))
    if best[0] < threshold:
        broad = max(((float(p[list(ix)].sum()), g) for g, ix in BROAD.items()), default=(0.0, None))
        if broad[0] >= threshold:
            best = broad
    return (best[1], best[0]) if best[0] > 0 else (None, 0.0)


@functools.lru_cache(maxsize=1)
def class_names() -> list[str]:
    """The 1,000 ImageNet-1k class names in the classifier's output order (sorted WordNet ids)."""
    spec = importlib.util.find_spec("timm")
    if spec is None:
        raise FileNotFoundError(f"ImageNet class names need the timm wheel: {INSTALL}")
    info = Path(spec.submodule_search_locations[0]) / "data" / "_info"
    ids = (info / "imagenet_synsets.txt").read_text().split()
    lemmas = dict(line.split("\t", 1) for line in (info / "imagenet_synset_to_lemma.txt").read_text().splitlines()
                  if "\t" in line)
    if len(ids) != 1000:
        raise ValueError(f"{info / 'imagenet_synsets.txt'}: expected 1000 classes, found {len(ids)}")
    return [lemmas[i].split(",")[0].strip() for i in ids]


@functools.lru_cache(maxsize=1)
def _classifier():
    import contextlib
    import io

    from efficientnet_lite_pytorch import EfficientNet

    from ..backbones.efficientnet import weights_path

    with contextlib.redirect_stdout(io.StringIO()):  # the package prints on load
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(weights_path()), image_size=224)
    return net.eval()


def subject_box(sal: np.ndarray, mass: float = 0.6, margin: float = 0.15) -> tuple[int, int, int, int]:
    """(left, top, right, bottom) around the smallest pixel set holding `mass` of the saliency,
    widened by `margin` of its size on each side and made square where the frame allows."""
    from .attributes import subject_mask

    ys, xs = np.nonzero(subject_mask(sal, mass))
    h, w = sal.shape
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = min(side, w, h) / 2
    cx, cy = min(max(cx, half), w - half), min(max(cy, half), h - half)
    return round(cx - half), round(cy - half), round(cx + half), round(cy + half)


def classify(photo, sal: np.ndarray | None = None) -> Content:
    """Top ImageNet classes of the subject region of `photo` (PIL RGB); whole photo when `sal` is None."""
    return classify_batch([photo], [sal])[0]


def classify_batch(photos, sals) -> list[Content]:
    """classify() of each photo with its map (or None), the subject regions in one forward pass."""
    probs, boxes = class_probabilities(photos, sals)
    names = class_names()
    out = []
    for row, box in zip(probs, boxes):
        p, i = row.topk(5)
        top5 = [(names[k], round(float(v), 4)) for v, k in zip(p, i)]
        name, sure = coarse_name(row.numpy())
        out.append(Content(top5[0][0], top5[0][1], top5, box, name, round(sure, 4)))
    return out


def class_probabilities(photos, sals):
    """(B, 1000) softmax probabilities of each photo's subject region (whole photo where its map is
    None), and the regions' boxes."""
    import torch
    from PIL import Image

    from ..images import resize_map

    boxes, regions = [], []
    for photo, sal in zip(photos, sals):
        box = (0, 0, photo.width, photo.height)
        if sal is not None:
            box = subject_box(np.asarray(resize_map(sal, (photo.height, photo.width))))
        boxes.append(tuple(int(b) for b in box))
        regions.append(np.asarray(photo.crop(box).resize((224, 224), Image.BICUBIC), dtype=np.float32))
    x = torch.from_numpy(np.stack(regions)).permute(0, 3, 1, 2)  # (B, 224, 224, 3) -> (B, 3, 224, 224)
    with torch.no_grad():
        probs = _classifier()((x - 127.0) / 128.0).softmax(-1)  # TF-style normalisation fits these weights
    return probs, boxes


def subject_phrase(content: Content | None, threshold: float = MIN_CONFIDENCE) -> str | None:
    """The coarse name ("cat": the critique says "the cat") when its group is confident; None (the
    critique says "the subject") otherwise."""
    if content is None or content.name is None or content.name_confidence < threshold:
        return None
    return content.name
