"""Photos in, tensors out: paths, PIL images or numpy arrays -> (B, 3, S, S) floats in [0, 1]."""

from __future__ import annotations

from pathlib import Path

MIN_SIDE = 32  # the critic's floor: smaller photos carry too little to measure or critique


def load_image(image, min_side: int = 1, max_pixels: int | None = None):
    """A path, bytes, binary file, PIL image or (H,W[,C]) uint8 array -> RGB PIL image, turned as the camera meant.

    Every way a photo can be unusable is a ValueError with one line naming the problem: not an
    image, truncated, more than `max_pixels` (default: Pillow's decompression-bomb limit), or a side
    under `min_side` pixels. CMYK, 16-bit, greyscale, palette and alpha photos come back as RGB
    (transparency over white); animated images give their first frame; EXIF orientation is applied.
    """
    import io

    import numpy as np
    from PIL import Image, ImageOps

    name = str(image) if isinstance(image, (str, Path)) else "image"
    if isinstance(image, (bytes, bytearray, memoryview)):
        if not len(image):
            raise ValueError("empty upload: no image data")
        image = io.BytesIO(bytes(image))
    if isinstance(image, (str, Path)) or hasattr(image, "read"):
        limit = max_pixels or Image.MAX_IMAGE_PIXELS
        try:
            with Image.open(image) as im:
                _check_size(name, im.size, min_side, limit)
                im.seek(0)  # animated images: the first frame
                im.load()
                im = ImageOps.exif_transpose(im)
                im.load()
        except Image.UnidentifiedImageError:
            raise ValueError(f"{name}: not an image (or a format Pillow cannot read)") from None
        except Image.DecompressionBombError:
            raise ValueError(f"{name}: too many pixels (over the {limit:,}-pixel limit)") from None
        except FileNotFoundError:  # one kind of error for every photo that cannot be used
            raise ValueError(f"{name}: no such file") from None
        except (OSError, SyntaxError, EOFError) as e:  # truncated or corrupt data
            raise ValueError(f"{name}: cannot read image ({_one_line(e)})") from None
        image = im
    elif isinstance(image, np.ndarray):
        if image.dtype != np.uint8:
            raise ValueError(f"numpy images must be uint8, got {image.dtype}")
        if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3, 4)):
            raise ValueError(f"numpy images must be (H,W), (H,W,1), (H,W,3) or (H,W,4), got {image.shape}")
        image = Image.fromarray(image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image)
    if not isinstance(image, Image.Image):
        raise TypeError(f"expected a path, bytes, PIL image or numpy array, got {type(image).__name__}")
    _check_size(name, image.size, min_side, max_pixels)
    return _to_rgb(image)


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:200] or type(e).__name__


def _check_size(name: str, size: tuple[int, int], min_side: int, max_pixels: int | None) -> None:
    w, h = size
    if max_pixels and w * h > max_pixels:
        raise ValueError(f"{name}: too many pixels ({w}x{h} = {w * h:,}; the limit is {max_pixels:,})")
    if min(w, h) < max(min_side, 1):
        raise ValueError(f"{name}: image is {w}x{h} pixels; at least {min_side}x{min_side} is needed")


def _to_rgb(image):
    """Any Pillow mode -> RGB: 16-bit and float scaled to 8 bits, transparency composited over white."""
    import numpy as np
    from PIL import Image

    mode = image.mode
    if mode in ("I", "F") or mode.startswith("I;16"):
        a = np.asarray(image, dtype=np.float64)
        top = 65535.0 if mode.startswith("I;16") or (mode == "I" and a.max() > 255) else 255.0
        if mode == "F":
            top = 1.0 if a.max() <= 1.0 else 255.0
        return Image.fromarray(np.uint8(np.clip(a / top * 255 + 0.5, 0, 255))).convert("RGB")
    if mode == "P" and "transparency" in image.info:
        image, mode = image.convert("RGBA"), "RGBA"
    if mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(canvas, rgba).convert("RGB")
    return image.convert("RGB")


def square(image, size: int, fill=(124, 116, 104)):
    """Pad to a square (ImageNet-mean grey) and resize: the whole frame, undistorted, is seen."""
    from PIL import Image

    w, h = image.size
    side = max(w, h)
    canvas = Image.new("RGB", (side, side), fill)
    canvas.paste(image, ((side - w) // 2, (side - h) // 2))
    return canvas.resize((size, size), Image.BICUBIC)


def resize_map(a, shape: tuple[int, int]):
    """A float map (h, w) -> `shape` (H, W), bilinear, as float64."""
    import numpy as np
    from PIL import Image

    img = Image.fromarray(np.asarray(a, dtype=np.float32), mode="F")
    return np.asarray(img.resize((shape[1], shape[0]), Image.BILINEAR), dtype=np.float64)


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
