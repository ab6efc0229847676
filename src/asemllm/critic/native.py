"""Photo statistics at the photo's native resolution: what the model's 224 px copy averages away.

Sensor noise is a pixel-level property: a 12 MP photo shrunk to 224 px (a 64x area average) shows
none of it, so no head over that copy can tell a clean photo from a grainy one (docs/DESIGN_NOTES.md,
"The native noise branch"). These few numbers come from the photo as loaded,
before it is squared and resized, with no learned parameters; a linear head branch reads them
and alone decides the claims listed in config.aux_native (the critic's two noise claims).
"""

from __future__ import annotations

import math

NATIVE_DIM = 2


def noise_sigma(photo, tiles: int = 4, tile: int = 128) -> float:
    """Immerkær (1996) noise sigma per channel (0-255 levels) of an RGB PIL photo at native
    resolution, on a `tiles` x `tiles` grid of crops (downscaling would average noise away).  The
    mean |3x3 noise-kernel| response is taken over the flattest 50% of pixels only (lowest Sobel
    gradient; Tai & Yang 2008 likewise drop edges), so edges and texture do not count as noise.
    Pixels next to a clipped value (0 or 255) are left out: clipping hides the noise there."""
    import numpy as np
    from scipy.ndimage import convolve, correlate1d, maximum_filter

    kernel = np.array([[[1, -2, 1], [-2, 4, -2], [1, -2, 1]]], dtype=np.float32)  # (1, 3, 3): per slice
    w, h = photo.size
    th, tw = min(tile, h), min(tile, w)
    crops = np.stack([np.asarray(photo.crop((tx, ty, tx + tw, ty + th)), dtype=np.float32)
                      for ty in np.linspace(0, h - th, tiles).round().astype(int)
                      for tx in np.linspace(0, w - tw, tiles).round().astype(int)])  # (tiles², th, tw, 3)
    ch = crops.transpose(0, 3, 1, 2).reshape(-1, th, tw)  # (tiles² * 3, th, tw): one slice per tile and channel
    clipped = ((ch == 0) | (ch == 255)).view(np.uint8)  # 1 byte a pixel: the 3x3 filter runs 4x less memory
    ok = maximum_filter(clipped, (1, 3, 3))[:, 1:-1, 1:-1] == 0  # no clipped pixel in its 3x3
    response = np.abs(convolve(ch, kernel))[:, 1:-1, 1:-1][ok]
    # Sobel within each slice: derivative along one axis, [1, 2, 1] smoothing along the other
    gy = correlate1d(correlate1d(ch, [-1, 0, 1], axis=1), [1, 2, 1], axis=2)
    gx = correlate1d(correlate1d(ch, [-1, 0, 1], axis=2), [1, 2, 1], axis=1)
    grad = np.hypot(gy, gx)[:, 1:-1, 1:-1][ok]
    flat = response[grad <= np.percentile(grad, 50)] if response.size else np.zeros(1)  # all clipped: report 0
    return math.sqrt(math.pi / 2) * float(flat.mean()) / 6.0  # Immerkær: E|x| = sqrt(2/pi) * 6 sigma


def native_stats(photos):
    """RGB PIL photos -> (B, NATIVE_DIM) float32: log(1 + noise sigma) and the sigma / 4 (capped
    at 4). (Not how far the photo shrinks to the model's size: the training photos are stored at
    384 px, so a 12 MP photo's value would lie outside anything the head was trained on.)"""
    import torch

    rows = []
    for photo in photos:
        sigma = noise_sigma(photo)
        rows.append([math.log1p(sigma), min(sigma / 4, 4.0)])
    return torch.tensor(rows, dtype=torch.float32).reshape(len(rows), NATIVE_DIM)
