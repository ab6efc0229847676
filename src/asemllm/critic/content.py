"""What the subject is: ImageNet-1k labels from EfficientNet-Lite0 (its full network, head included).

The classifier looks at the subject region (the box around the pixels holding most of the saliency,
with a margin) rather than the whole frame, so a small bird in a wide landscape can still be named.
Class names come from the ImageNet synset list that timm's wheel carries as text (timm itself is
never imported). A label under `MIN_CONFIDENCE` is not used: the critique then says "the subject".
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MIN_CONFIDENCE = 0.35  # below this the top class is wrong too often to name the subject by it
INSTALL = "pip install --no-deps timm==1.0.31  (only its ImageNet class-name files are read)"


@dataclass(frozen=True)
class Content:
    label: str          # the first lemma of the top class, e.g. "tabby"
    confidence: float   # its softmax probability
    top5: list          # [(label, probability), ...]
    box: tuple          # (left, top, right, bottom) of the region classified, in photo pixels


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
    names = class_names()
    out = []
    for row, box in zip(probs, boxes):
        p, i = row.topk(5)
        top5 = [(names[k], round(float(v), 4)) for v, k in zip(p, i)]
        out.append(Content(top5[0][0], top5[0][1], top5, box))
    return out


def subject_phrase(content: Content | None) -> str | None:
    """"the tabby" for a confident label; None (the critique says "the subject") otherwise."""
    if content is None or content.confidence < MIN_CONFIDENCE:
        return None
    return content.label
