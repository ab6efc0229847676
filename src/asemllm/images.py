"""Photos in, tensors out: paths, PIL images or numpy arrays -> (B, 3, S, S) floats in [0, 1]."""

from __future__ import annotations

from pathlib import Path


def load_image(image):
    """A path, PIL image or (H,W[,C]) uint8 array -> RGB PIL image, turned as the camera meant."""
    import numpy as np
    from PIL import Image, ImageOps

    if isinstance(image, (str, Path)):
        try:
            with Image.open(image) as im:
                im.seek(0)  # animated images: the first frame
                im = ImageOps.exif_transpose(im)
                im.load()
        except (OSError, ValueError, Image.DecompressionBombError) as e:
            raise ValueError(f"{image}: cannot read image ({e})") from None
        image = im
    elif isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(f"numpy images must be uint8, got {image.dtype}")
        image = Image.fromarray(image)
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a path, PIL image or numpy array, got {type(image).__name__}")
    return image.convert("RGB")


def square(image, size: int, fill=(124, 116, 104)):
    """Pad to a square (ImageNet-mean grey) and resize: the whole frame, undistorted, is seen."""
    from PIL import Image

    w, h = image.size
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(image, ((side - w) // 2, (side - h) // 2))
    return canvas.resize((size, size), Image.BICUBIC)


def square_points(points, hw: tuple[int, int], size: int):
    """(N,2) x,y pixel coordinates in an (h,w) photo -> the same places in `square(photo, size)`."""
    h, w = hw
    side = max(h, w)
    offset = [(side - w) // 2, (side - h) // 2]
    return (points + offset) * (size / side)


def unsquare(map2d, hw: tuple[int, int]):
    """A (size,size) map over `square(photo, size)` -> the photo's (h,w) frame (crop, resize)."""
    import numpy as np
    from PIL import Image

    h, w = hw
    size, side = map2d.shape[0], max(h, w)
    x0, y0 = (side - w) // 2 * size / side, (side - h) // 2 * size / side
    box = (x0, y0, x0 + w * size / side, y0 + h * size / side)
    img = Image.fromarray(np.asarray(map2d, dtype=np.float32), mode="F")
    return np.asarray(img.resize((w, h), Image.BILINEAR, box=box), dtype=np.float64)


def to_batch(images, size: int):
    import numpy as np
    import torch

    if not isinstance(images, (list, tuple)):
        images = [images]
    arrays = [np.asarray(square(load_image(im), size), dtype=np.float32) / 255.0 for im in images]
    return torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()  # (B, 3, S, S)
