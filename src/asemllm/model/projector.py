"""Projector: vision tokens -> LM embeddings, with optional r x r token reduction (pixel shuffle).

Besides the final ViT features, each image token can carry what else is known about its r x r
patch cell (config.vision.detail_layer, config.projector.saliency_cells): the mean and std of an
early block's tokens (layer-normalised: early blocks' activations are far smaller than the
output's) and the saliency density of each patch.
"""

from __future__ import annotations

import torch
from torch import nn

from ..config import ProjectorConfig


def cells(x: torch.Tensor, grid: int, r: int) -> torch.Tensor:
    """(B, grid*grid, C) -> (B, (grid/r)^2, r*r, C): each token's r x r neighbourhood."""
    B, N, C = x.shape
    if N != grid * grid or grid % r:
        raise ValueError(f"projector: {N} tokens, grid {grid}, reduce {r}: grid must be a multiple of reduce")
    g = grid // r
    x = x.view(B, g, r, g, r, C).permute(0, 1, 3, 2, 4, 5)  # (B, g, g, r, r, C)
    return x.reshape(B, g * g, r * r, C)


class Projector(nn.Module):
    def __init__(self, config: ProjectorConfig, in_dim: int, out_dim: int, detail_dim: int = 0):
        super().__init__()
        self.reduce = config.reduce
        r2 = config.reduce ** 2
        self.detail_norm = nn.LayerNorm(2 * detail_dim) if detail_dim else None
        extra = 2 * detail_dim + (r2 if config.saliency_cells else 0)
        hidden = out_dim * config.hidden_mult
        self.mlp = nn.Sequential(nn.Linear(in_dim * r2 + extra, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def num_tokens(self, grid: int) -> int:
        return (grid // self.reduce) ** 2

    def forward(self, x: torch.Tensor, grid: int, detail: torch.Tensor | None = None,
                density: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, grid*grid, C); detail (B, grid*grid, C') early-block tokens; density (B, grid*grid)
        saliency per patch -> (B, (grid/r)^2, out_dim)."""
        r = self.reduce
        # concatenate each r x r neighbourhood: no information is lost, r^2 fewer tokens
        parts = [cells(x, grid, r).flatten(2)]  # (B, g*g, r*r*C)
        if self.detail_norm is not None:
            d = cells(detail, grid, r)  # (B, g*g, r*r, C')
            parts.append(self.detail_norm(torch.cat([d.mean(2), d.std(2)], dim=-1)))
        if density is not None:
            parts.append(cells(density.unsqueeze(-1), grid, r).flatten(2))  # (B, g*g, r*r)
        return self.mlp(torch.cat(parts, dim=-1))
