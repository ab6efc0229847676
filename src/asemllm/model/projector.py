"""Projector: vision tokens -> LM embeddings, with optional r x r token reduction (pixel shuffle)."""

from __future__ import annotations

import torch
from torch import nn

from ..config import ProjectorConfig


class Projector(nn.Module):
    def __init__(self, config: ProjectorConfig, in_dim: int, out_dim: int):
        super().__init__()
        self.reduce = config.reduce
        hidden = out_dim * config.hidden_mult
        self.mlp = nn.Sequential(
            nn.Linear(in_dim * config.reduce ** 2, hidden), nn.GELU(), nn.Linear(hidden, out_dim))

    def num_tokens(self, grid: int) -> int:
        return (grid // self.reduce) ** 2

    def forward(self, x: torch.Tensor, grid: int) -> torch.Tensor:
        """(B, grid*grid, C) -> (B, (grid/r)^2, out_dim)."""
        B, N, C = x.shape
        r = self.reduce
        if N != grid * grid or grid % r:
            raise ValueError(f"projector: {N} tokens, grid {grid}, reduce {r}: grid must be a multiple of reduce")
        g = grid // r
        # concatenate each r x r neighbourhood: no information is lost, r^2 fewer tokens
        x = x.view(B, g, r, g, r, C).permute(0, 1, 3, 2, 4, 5)  # (B, g, g, r, r, C)
        x = x.reshape(B, g * g, r * r * C)
        return self.mlp(x)
