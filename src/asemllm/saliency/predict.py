"""Saliency maps for photos: the trained IASM at the photo's own size, as PNG and heat overlay."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


def load_iasm(weights: str = "bundled"):
    """The IASM alone, with trained weights ("bundled" or a path to `best.safetensors`); its
    architecture comes from the config recorded inside the weights file."""
    from ..models import build_iasm, iasm_weights_config, load_iasm_weights

    cfg = iasm_weights_config(weights)
    iasm = build_iasm(cfg, pretrained_encoder=False)  # with a ViT readout: its blocks attached
    load_iasm_weights(iasm, weights)
    return iasm.eval()


@torch.no_grad()
def predict_maps(iasm, photos: list, shapes: list[tuple[int, int]], size: int = 224,
                 faces: bool = True) -> list[np.ndarray]:
    """PIL photos -> probability maps (sum 1) at the given (h, w), through the captioner's square
    frame; with `faces`, a fifth of the mass moved onto the frontal faces found (`saliency.faces`)."""
    from ..images import resize_map, to_batch, unsquare
    from .faces import detect_faces, with_faces

    out = iasm(to_batch(photos, size)).log_density.exp()[:, 0].numpy()  # (B, S, S)
    maps = []
    for m, photo, shape in zip(out, photos, shapes):
        framed = unsquare(m, (photo.size[1], photo.size[0]))  # photo frame
        resized = framed if framed.shape == tuple(shape) else resize_map(framed, shape).clip(min=0)
        resized = resized / resized.sum()
        maps.append(with_faces(resized, detect_faces(photo), (photo.size[1], photo.size[0])) if faces else resized)
    return maps


def heat_overlay(photo, sal: np.ndarray, alpha: float = 0.5):
    """Blend a heat colouring (dark blue -> red -> yellow) of `sal` over the photo."""
    from PIL import Image

    v = sal / max(sal.max(), 1e-12)  # (h, w) in [0, 1]
    heat = np.stack([np.clip(2 * v, 0, 1), np.clip(2 * v - 1, 0, 1), np.clip(0.5 - v, 0, 0.5)], -1)
    a = (alpha * np.sqrt(v))[..., None]  # low saliency lets the photo through
    base = np.asarray(photo.convert("RGB"), dtype=np.float64) / 255
    return Image.fromarray(np.uint8(255 * ((1 - a) * base + a * heat)))


def photos_in(target: Path) -> list[Path]:
    if target.is_dir():
        return sorted(p for p in target.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    return [target]


def predict_to_folder(targets: list[Path], out: Path, weights: str = "bundled", log=print) -> dict:
    """Write <stem>.png (8-bit grey map at the photo's size) and <stem>_overlay.jpg per photo."""
    from PIL import Image

    from ..images import load_image

    iasm = load_iasm(weights)
    out.mkdir(parents=True, exist_ok=True)
    done, failed = [], []
    for path in [p for t in targets for p in photos_in(Path(t))]:
        try:
            photo = load_image(path)
        except (ValueError, TypeError) as e:  # one bad file never stops the batch
            log(f"skip: {e}")
            failed.append({"image": str(path), "error": str(e)})
            continue
        (sal,) = predict_maps(iasm, [photo], [(photo.size[1], photo.size[0])])
        Image.fromarray(np.uint8(np.round(255 * sal / sal.max()))).save(out / f"{path.stem}.png")
        heat_overlay(photo, sal).save(out / f"{path.stem}_overlay.jpg", quality=90)
        peak = np.unravel_index(sal.argmax(), sal.shape)
        done.append({"image": str(path), "map": str(out / f"{path.stem}.png"),
                     "overlay": str(out / f"{path.stem}_overlay.jpg"), "peak": [int(peak[1]), int(peak[0])]})
    return {"written": done, "failed": failed}
