"""Controlled photo edits: the exposure, white balance, noise, rotation, crop and blur changes the
critic's training data and `critic eval` apply to real photos (the measurement families in
`asemllm.critic.measures` bring their own, built on these)."""

from __future__ import annotations

import math

# Each takes and returns float RGB in [0, 1] (or a PIL image for the geometric ones).


def to_srgb(x):
    """Linear light -> sRGB 0-1 (the inverse of measures.scene.linear), clipped as a sensor clips."""
    import numpy as np

    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.0031308, 12.92 * x, 1.055 * x ** (1 / 2.4) - 0.055)


def expose(rgb, stops: float):
    """Scale linear light by 2**stops, as a different shutter speed would (highlights clip)."""
    from .measures.scene import linear as _linear

    return to_srgb(_linear(rgb) * 2.0 ** stops)


def tint(rgb, warmth: float):
    """White-balance shift: red up and blue down by `warmth` in linear light (negative: cooler)."""
    import numpy as np

    from .measures.scene import linear as _linear

    gains = np.array([1 + warmth, 1.0, 1 - warmth], dtype=rgb.dtype)
    return to_srgb(_linear(rgb) * gains)


def add_noise(rgb, sigma: float, rng):
    import numpy as np

    g = np.random.default_rng(rng.randrange(2 ** 32))
    return np.clip(rgb + g.normal(0, sigma / 255.0, rgb.shape), 0, 1)


def rotate(image, degrees: float):
    """Counter-clockwise rotation, cropped to the largest centred rectangle with no empty corners."""
    from PIL import Image

    w, h = image.size
    a = math.radians(abs(degrees))
    c, s = math.cos(a), math.sin(a)
    # the inscribed axis-aligned rectangle of the same aspect ratio (small angles)
    k = min(w / (w * c + h * s), h / (w * s + h * c))
    out = image.rotate(degrees, resample=Image.BICUBIC)
    cw, ch = w * k, h * k
    return out.crop((round((w - cw) / 2), round((h - ch) / 2), round((w + cw) / 2), round((h + ch) / 2)))


def crop(image, frac: float, fx: float, fy: float):
    """Keep `frac` of each side; (fx, fy) in [0, 1] place the window (0: left/top, 1: right/bottom)."""
    w, h = image.size
    cw, ch = round(w * frac), round(h * frac)
    x, y = round((w - cw) * fx), round((h - ch) * fy)
    return image.crop((x, y, x + cw, y + ch))


def blur(image, radius: float):
    from PIL import ImageFilter

    return image.filter(ImageFilter.GaussianBlur(radius))


