"""IASM, the Image Aesthetic Saliency Module: photo -> saliency density + saliency tokens.

A CNN encoder gives features at strides 8/16/32; a light top-down decoder merges them at stride 8;
a 1x1 head plus a learned centre-bias prior gives saliency logits, turned into a log-density over
the pixels of the input. The tokens the IAS-ViT attends to are the decoder features weighted by
the saliency density, plus the density itself, pooled to a small grid: the map decides what the
ViT is shown, so swapping the map (the ablations: centre bias, random) really changes the input.

With `config.readout` set, the decoder also reads patch tokens of an early ViT block (a LayerNorm
and a linear read-out per patch, added at stride 8): a 128 px CNN sees blobs and edges, the ViT's
tokens already say where faces, people and text are. Inside the captioner those tokens come from
the IAS-ViT's own tower (before any saliency is injected, so nothing is computed twice); the IASM
alone runs the tower's first blocks itself (`attach_vit`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..config import IASMConfig


SOURCES = ("iasm", "none", "centre-bias", "random")


@dataclass
class SaliencyOutput:
    log_density: torch.Tensor  # (B, 1, H, W), logsumexp over H*W is 0 for every image
    decoder: torch.Tensor  # (B, C, h, w) decoder features, stride 8
    grid_density: torch.Tensor  # (B, 1, h, w) density on the decoder grid; a uniform map is 1

    @property
    def features(self) -> torch.Tensor:
        return saliency_features(self.decoder, self.grid_density)


class CentreBias(nn.Module):
    """Learned anisotropic Gaussian in normalised coordinates, added to the logits.

    People look at the centre of photos; a model that has to learn that from the image content
    wastes capacity, so the prior is explicit (and its weight can fall to 0 if useless).
    """

    def __init__(self):
        super().__init__()
        self.mean = nn.Parameter(torch.zeros(2))
        self.log_sigma = nn.Parameter(torch.full((2,), -1.0))  # sigma ~ 0.37 of the half-width
        self.weight = nn.Parameter(torch.ones(1))

    def forward(self, h: int, w: int) -> torch.Tensor:
        ys = torch.linspace(-1, 1, h, device=self.mean.device)
        xs = torch.linspace(-1, 1, w, device=self.mean.device)
        sigma = self.log_sigma.exp()
        gy = ((ys - self.mean[1]) / sigma[1]) ** 2  # (h,)
        gx = ((xs - self.mean[0]) / sigma[0]) ** 2  # (w,)
        return -0.5 * self.weight * (gy[:, None] + gx[None, :])  # (h, w)


class IASM(nn.Module):
    def __init__(self, config: IASMConfig, encoder: nn.Module, channels: tuple[int, int, int],
                 vit_dim: int | None = None):
        super().__init__()
        self.config = config
        self.encoder = encoder  # images in [0,1] -> [f8, f16, f32]; it normalises for itself
        d = config.decoder_dim
        self.lateral = nn.ModuleList(nn.Conv2d(c, d, 1) for c in channels)
        self.refine = nn.Sequential(
            nn.Conv2d(d, d, 3, padding=1, bias=False), nn.BatchNorm2d(d), nn.ReLU(inplace=True),
            nn.Conv2d(d, d, 3, padding=1, bias=False), nn.BatchNorm2d(d), nn.ReLU(inplace=True),
        )
        # no bias: a constant shift of the logits vanishes in the softmax, it could never learn
        self.head = nn.Conv2d(d, 1, 1, bias=False)
        self.prior = CentreBias() if config.centre_bias else None
        if config.readout is not None and not vit_dim:
            raise ValueError(f"IASM readout of block {config.readout} needs the ViT's width (vit_dim)")
        self.readout = (nn.Sequential(nn.LayerNorm(vit_dim), nn.Linear(vit_dim, d))
                        if config.readout is not None else None)
        self._vit = None  # the ViT's first blocks when the IASM runs alone: not a submodule (see attach_vit)
        # channels-last convolutions run faster on CPU (oneDNN); the results are the same
        self.to(memory_format=torch.channels_last)

    @property
    def token_dim(self) -> int:
        return self.config.decoder_dim + 1

    @property
    def reads_vit(self) -> bool:
        return self.readout is not None

    def attach_vit(self, prefix: nn.Module | None) -> None:
        """Give a standalone IASM the ViT blocks its readout reads (images -> patch tokens). Kept out
        of the module tree: they are the captioner's frozen tower, rebuilt from its backbone name,
        never trained or saved with the IASM."""
        object.__setattr__(self, "_vit", prefix)

    def _apply(self, fn, *args, **kwargs):
        if self._vit is not None:  # .to(device) / .half() move the attached blocks too
            self._vit._apply(fn, *args, **kwargs)
        return super()._apply(fn, *args, **kwargs)

    def forward(self, images: torch.Tensor, vit: torch.Tensor | None = None) -> SaliencyOutput:
        """images: (B, 3, H, W) in [0, 1] at any size; resized to config.image_size inside.
        vit: (B, g*g, C) patch tokens of the readout block for these images (the captioner passes
        its tower's); None: computed by the attached blocks when the IASM has a readout."""
        H, W = images.shape[-2:]
        s = self.config.image_size
        x = F.interpolate(images, size=(s, s), mode="bilinear", antialias=True, align_corners=False)
        x = x.contiguous(memory_format=torch.channels_last)
        f8, f16, f32 = self.encoder(x)
        y = self.lateral[2](f32)  # top-down: coarse context refined by finer features
        y = self.lateral[1](f16) + F.interpolate(y, size=f16.shape[-2:], mode="nearest")
        y = self.lateral[0](f8) + F.interpolate(y, size=f8.shape[-2:], mode="nearest")
        if self.readout is not None:
            y = y + self._read(images, vit, y.shape[-2:])
        y = self.refine(y)  # (B, d, h, w), h = s / 8
        logits = self.head(y)  # (B, 1, h, w)
        if self.prior is not None:
            logits = logits + self.prior(*logits.shape[-2:])
        log_density = _log_density(logits, (H, W))
        # scaled so that a uniform map is 1 whatever the grid size
        grid_density = _log_density(logits, logits.shape[-2:]).exp() * logits[0, 0].numel()
        return SaliencyOutput(log_density, y, grid_density)


    def _read(self, images: torch.Tensor, vit: torch.Tensor | None, size) -> torch.Tensor:
        """The readout of the ViT's patch tokens as a (B, d, h, w) map at the decoder's grid."""
        if vit is None:
            if self._vit is None:
                raise RuntimeError("this IASM reads ViT features: pass them, or attach_vit() the ViT's blocks")
            with torch.no_grad():
                vit = self._vit(images)
        B, N, _ = vit.shape
        g = round(N ** 0.5)
        if g * g != N:
            raise ValueError(f"IASM readout expects a square grid of patch tokens, got {N}")
        r = self.readout(vit).transpose(1, 2).reshape(B, -1, g, g)  # (B, d, g, g)
        r = r.contiguous(memory_format=torch.channels_last)
        return r if (g, g) == tuple(size) else F.interpolate(r, size=tuple(size), mode="bilinear",
                                                             align_corners=False)


def _log_density(logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Upsample (B,1,h,w) logits to `size` and normalise into a log-density over its pixels."""
    B = logits.shape[0]
    up = F.interpolate(logits, size=tuple(size), mode="bilinear", align_corners=False)
    return F.log_softmax(up.reshape(B, -1), dim=-1).reshape(B, 1, *size)


def saliency_features(decoder: torch.Tensor, density: torch.Tensor) -> torch.Tensor:
    """(B,C,h,w) features, (B,1,h,w) density (mean 1) -> (B,C+1,h,w): features where people look."""
    return torch.cat([decoder * density, density], dim=1)


def ablation_density(source: str, like: torch.Tensor, seed: int = 0) -> torch.Tensor:
    """A stand-in (B,1,h,w) density with mean 1: "centre-bias" (a centred Gaussian, sigma a quarter
    of the side) or "random" (smooth noise, fixed seed so ablation runs are repeatable)."""
    B, _, h, w = like.shape
    if source == "centre-bias":
        ys = torch.linspace(-1, 1, h, device=like.device)[:, None]
        xs = torch.linspace(-1, 1, w, device=like.device)[None, :]
        logits = (-(ys ** 2 + xs ** 2) / (2 * 0.5 ** 2)).expand(B, 1, h, w)
    elif source == "random":
        g = torch.Generator().manual_seed(seed)
        coarse = torch.randn(B, 1, max(h // 4, 2), max(w // 4, 2), generator=g).to(like.device)
        logits = 2 * F.interpolate(coarse, size=(h, w), mode="bilinear", align_corners=False)
    else:
        raise ValueError(f"no stand-in density for saliency source {source!r}")
    return F.softmax(logits.reshape(B, -1), dim=-1).reshape(B, 1, h, w) * (h * w)


def saliency_tokens(features: torch.Tensor, grid: int) -> torch.Tensor:
    """(B, C, h, w) -> (B, grid*grid, C): average-pooled keys/values for the cross-attention."""
    pooled = F.adaptive_avg_pool2d(features, grid)  # (B, C, grid, grid)
    return pooled.flatten(2).transpose(1, 2)
