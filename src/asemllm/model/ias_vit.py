"""IAS-ViT: a pretrained ViT with gated cross-attention to saliency tokens after chosen blocks.

After block i:  x = x + tanh(a_i) * CrossAttn(LN(x), LN(s));  x = x + tanh(b_i) * MLP(LN(x))
with a_i = b_i = 0 at initialisation (Flamingo-style), so the encoder starts as the plain ViT.

The blocks are attached with forward hooks on the tower's own layers: the tower's code and its
state-dict keys stay untouched, so any transformers CLIP / SigLIP / DINOv2 tower works as is.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import FusionConfig, VisionConfig


def encoder_layers(tower: nn.Module) -> nn.ModuleList:
    """The list of transformer blocks of a transformers vision tower."""
    for path in ("encoder.layer", "encoder.layers", "vision_model.encoder.layers"):
        mod = tower
        try:
            for name in path.split("."):
                mod = getattr(mod, name)
        except AttributeError:
            continue
        if isinstance(mod, nn.ModuleList):
            return mod
    raise TypeError(f"cannot find the transformer blocks of {type(tower).__name__}")


def sincos_2d(grid: int, dim: int) -> torch.Tensor:
    """Fixed 2-D sine-cosine position table, (grid*grid, dim): tells the keys where they are."""
    if dim % 4:
        raise ValueError(f"sincos_2d needs dim divisible by 4, got {dim}")
    omega = 1.0 / 10000 ** (torch.arange(dim // 4) / (dim // 4))  # (dim/4,)
    ys, xs = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    out = [f(c.flatten()[:, None].float() * omega[None]) for c in (xs, ys) for f in (torch.sin, torch.cos)]
    return torch.cat(out, dim=1)


class GatedCrossAttention(nn.Module):
    """ViT tokens (queries) read saliency tokens (keys/values) through tanh gates that start at 0.

    The attention runs in an inner width `inner` (at most the ViT's): the saliency signal is low
    rank, and this keeps the block's cost a few per cent of the ViT's.
    """

    def __init__(self, dim: int, kv_dim: int, kv_grid: int, num_heads: int, inner: int, mlp_ratio: float):
        super().__init__()
        if inner % num_heads or (inner // num_heads) % 2:
            raise ValueError(f"fusion width {inner} must split into {num_heads} heads of even size")
        self.num_heads = num_heads
        self.norm_q = nn.LayerNorm(dim)
        self.norm_kv = nn.LayerNorm(kv_dim)
        self.q = nn.Linear(dim, inner)
        self.kv = nn.Linear(kv_dim, 2 * inner)
        self.out = nn.Linear(inner, dim)
        self.register_buffer("kv_pos", sincos_2d(kv_grid, inner), persistent=False)
        self.attn_gate = nn.Parameter(torch.zeros(1))
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, hidden), nn.GELU(),
                                 nn.Linear(hidden, dim)) if hidden else None
        self.mlp_gate = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = self.num_heads
        q = self.q(self.norm_q(x))  # (B, N, inner)
        k, v = self.kv(self.norm_kv(s)).chunk(2, dim=-1)  # (B, M, inner) each
        k = k + self.kv_pos
        q, k, v = (t.unflatten(-1, (h, -1)).transpose(1, 2) for t in (q, k, v))  # (B, h, N|M, hd)
        a = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).flatten(2)  # (B, N, inner)
        x = x + torch.tanh(self.attn_gate) * self.out(a)
        if self.mlp is not None:
            x = x + torch.tanh(self.mlp_gate) * self.mlp(x)
        return x


# The hooks are module-level functions that find their IASViT through an attribute of the hooked
# block (not closures over it), so copy.deepcopy of a model hooks the copy to the copy.
def _own(layer: nn.Module, owner: nn.Module) -> nn.Module:
    """Give `layer` a reference to its IASViT: a plain attribute, not a submodule (no cycle in the
    module tree)."""
    object.__setattr__(layer, "_ias_owner", owner)
    return layer


def _fuse(layer, args, output):
    """After a fused block: its tokens read the saliency tokens (nothing without saliency)."""
    owner = layer._ias_owner
    if owner._saliency is None:
        return None  # plain ViT (saliency ablated)
    hidden = output[0] if isinstance(output, tuple) else output
    fused = owner.fusion[layer._ias_fusion](hidden, owner._saliency)
    return (fused, *output[1:]) if isinstance(output, tuple) else fused


def _read(layer, args, output):
    """After the IASM's readout block (registered before any fusion hook on it, so it sees the plain
    block's output): a pending saliency callable gets the patch tokens and becomes the tokens."""
    owner = layer._ias_owner
    if callable(owner._saliency):
        hidden = output[0] if isinstance(output, tuple) else output
        owner._saliency = owner._saliency(owner._patches(hidden))
    return None


def _capture(layer, args, output):
    for key in layer._ias_capture:
        layer._ias_owner._captured[key] = output[0] if isinstance(output, tuple) else output


class IASViT(nn.Module):
    def __init__(self, vision: VisionConfig, fusion: FusionConfig, tower: nn.Module, kv_dim: int,
                 readout: int | None = None):
        """readout: the block whose patch tokens the IASM reads (IASMConfig.readout); forward then
        takes the saliency as a callable of those tokens, called between that block and the first
        fusion block."""
        super().__init__()
        self.config = vision
        self.tower = tower
        layers = encoder_layers(tower)
        n = len(layers)
        bad = [i for i in fusion.layers if not -n <= i < n]
        if bad:
            raise ValueError(f"fusion layers {bad} out of range for a ViT of {n} blocks")
        self.readout = None if readout is None else readout % n
        if readout is not None:
            if not -n <= readout < n:
                raise ValueError(f"IASM readout block {readout} out of range for a ViT of {n} blocks")
            first = min((i % n for i in fusion.layers), default=n)
            if self.readout > first:
                raise ValueError(f"IASM readout block {readout} comes after the first fusion block {first}: "
                                 "its tokens would already carry saliency")
            _own(layers[self.readout], self).register_forward_hook(_read)  # before a fusion hook there
        width = tower.config.hidden_size
        self.fusion = nn.ModuleDict({
            str(i % n): GatedCrossAttention(width, kv_dim, fusion.kv_grid, fusion.num_heads,
                                            min(fusion.dim, width), fusion.mlp_ratio)
            for i in fusion.layers})
        self.register_buffer("mean", torch.tensor(vision.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(vision.std).view(1, 3, 1, 1), persistent=False)
        self._saliency: torch.Tensor | None = None
        self._captured: dict[str, torch.Tensor] = {}
        if vision.detail_layer is not None and not -n <= vision.detail_layer < n:
            raise ValueError(f"detail_layer {vision.detail_layer} out of range for a ViT of {n} blocks")
        for i in self.fusion:
            layer = _own(layers[int(i)], self)
            layer._ias_fusion = i
            layer.register_forward_hook(_fuse)
        captures: dict[int, list[str]] = {}
        if vision.feature_layer != -1:
            captures.setdefault(vision.feature_layer % n, []).append("features")
        if vision.detail_layer is not None:
            captures.setdefault(vision.detail_layer % n, []).append("detail")
        for at, keys in captures.items():
            layer = _own(layers[at], self)
            layer._ias_capture = keys
            layer.register_forward_hook(_capture)  # after a fusion hook on the same block: sees its output

    @property
    def width(self) -> int:
        return self.tower.config.hidden_size

    @property
    def grid(self) -> int:
        return self.config.image_size // self.tower.config.patch_size

    def forward(self, images: torch.Tensor, saliency
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """images (B,3,S,S) in [0,1]; saliency tokens (B,M,kv_dim), a callable (readout block's patch
        tokens (B,g*g,C) -> saliency tokens) when the IASM reads this ViT, or None ->
        (patch tokens (B,g*g,C), the detail layer's patch tokens (B,g*g,C) or None).

        Prefix tokens (CLS, registers) are dropped: the projector works on the patch grid.
        """
        pixel_values = (images - self.mean) / self.std
        if callable(saliency) and self.readout is None:
            raise ValueError("saliency given as a function of ViT tokens, but this IAS-ViT has no readout block")
        self._saliency = saliency
        try:
            out = self.tower(pixel_values=pixel_values).last_hidden_state
            out = self._captured.get("features", out)
            detail = self._captured.get("detail")
        finally:
            self._saliency, self._captured = None, {}
        return self._patches(out), None if detail is None else self._patches(detail)

    def _patches(self, tokens: torch.Tensor) -> torch.Tensor:
        n_prefix = tokens.shape[1] - self.grid ** 2
        if n_prefix < 0:
            raise ValueError(f"ViT gave {tokens.shape[1]} tokens for a {self.grid}x{self.grid} grid")
        return tokens[:, n_prefix:]


class ViTPrefix(nn.Module):
    """A tower's embeddings and its blocks 0..last: images (B,3,S,S) in [0,1] -> that block's patch
    tokens (B, g*g, C), exactly what the IAS-ViT's readout hook sees (the IASM run alone)."""

    def __init__(self, tower: nn.Module, last: int, mean, std, image_size: int):
        super().__init__()
        layers = encoder_layers(tower)
        if not -len(layers) <= last < len(layers):
            raise ValueError(f"block {last} out of range for a ViT of {len(layers)} blocks")
        self.embeddings = tower.embeddings
        self.blocks = nn.ModuleList(layers[: last % len(layers) + 1])
        self.image_size = image_size
        self.grid = image_size // tower.config.patch_size
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1), persistent=False)
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        s = self.image_size
        if tuple(images.shape[-2:]) != (s, s):
            images = F.interpolate(images, size=(s, s), mode="bilinear", antialias=True, align_corners=False)
        h = self.embeddings((images - self.mean) / self.std)
        for block in self.blocks:
            h = block(h)
            h = h[0] if isinstance(h, tuple) else h
        return h[:, h.shape[1] - self.grid ** 2:]
