"""The critic's claim head: which of the teacher's claims a photo supports, read off the captioner.

It is attached to an `AestheticCaptioner` as `model.head` (asemllm.models.build_model does so for a
config with `aux_targets`) and reads the captioner's `View` of each photo: its image tokens and,
per branch, what the tokens blur away. Branches, each optional (config.aux_*):

    tokens    (B, n*D) image tokens -> a logit per target (linear, or an MLP with aux_hidden units)
    stats     (B, STATS_DIM) photo statistics -> logits added to the tokens' (asemllm.critic.photo_stats)
    native    (B, NATIVE_DIM) noise at native resolution -> the logits of config.aux_native alone
    geometry  (B, len(SHAPE)) the saliency map's geometry -> the logits of config.aux_geometry alone
    embed     the probabilities, projected to the LM width, as one more image token (aux_token)

A replacing branch (native, geometry) decides its targets alone: a claim about noise is decided from
the noise measured where it can be seen, and a placement band from the map's geometry, and no
other claim moves. Why each branch: docs/DESIGN_NOTES.md ("How the recipe got here").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..config import ModelConfig
from .native import NATIVE_DIM, native_stats
from .photo_stats import SHAPE, STATS_DIM, photo_stats, shape_columns


def masked_bce(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy over the entries whose target is known (NaN = unknown)."""
    logits = logits.float()
    known = ~targets.isnan()
    return F.binary_cross_entropy_with_logits(logits[known], targets[known].to(logits.dtype))


def tokens_branch(width: int, config: ModelConfig) -> nn.Module:
    """(B, n*D) image tokens -> (B, aux_targets) logits: linear, or an MLP with aux_hidden units."""
    if not config.aux_hidden:
        return nn.Linear(width, config.aux_targets)
    return nn.Sequential(nn.Linear(width, config.aux_hidden), nn.GELU(), nn.Linear(config.aux_hidden, config.aux_targets))


def stats_branch(config: ModelConfig) -> nn.Module | None:
    """(B, STATS_DIM) photo statistics -> (B, aux_targets) logits, added to the tokens' branch: a
    branch of its own, so ~100 statistics are not drowned among thousands of token features."""
    if not (config.aux_targets and config.aux_stats):
        return None
    hidden = config.aux_hidden or 128
    return nn.Sequential(nn.Linear(STATS_DIM, hidden), nn.GELU(), nn.Linear(hidden, config.aux_targets))


def native_branch(config: ModelConfig) -> nn.Module | None:
    """(B, NATIVE_DIM) native-resolution statistics -> the logits of the targets config.aux_native.
    Linear: inside the statistics MLP the same numbers also moved unrelated claims."""
    if not (config.aux_targets and config.aux_native):
        return None
    _check_replaced(config, "aux_native")
    return nn.Linear(NATIVE_DIM, len(config.aux_native))


def geometry_branch(config: ModelConfig) -> nn.Module | None:
    """(B, len(SHAPE)) numbers of the saliency map's geometry -> the logits of the targets
    config.aux_geometry. "Off-centre" is a band of two of them (the centre offset, and no thirds
    point near): among ~100 statistics the statistics MLP places such bands loosely, a small MLP
    over these four alone learns them."""
    if not (config.aux_targets and config.aux_geometry):
        return None
    if not config.aux_stats:
        raise ValueError("aux_geometry reads the photo statistics: it needs aux_stats")
    _check_replaced(config, "aux_geometry")
    return nn.Sequential(nn.Linear(len(SHAPE), 64), nn.GELU(), nn.Linear(64, len(config.aux_geometry)))


def _check_replaced(config: ModelConfig, field: str) -> None:
    """The targets a replacing branch decides (config.<field>) are the head's, and each target is
    decided by one such branch at most (else the later would silently win)."""
    bad = [i for i in getattr(config, field) if not 0 <= i < config.aux_targets]
    if bad:
        raise ValueError(f"{field} targets {bad} are not among the head's {config.aux_targets}")
    both = sorted(set(config.aux_geometry) & set(config.aux_native))
    if both:
        raise ValueError(f"targets {both} are in both aux_native and aux_geometry: one branch decides a target")


class ClaimHead(nn.Module):
    """A logit per head target (the teacher's rules) from the captioner's View of a batch."""

    def __init__(self, config: ModelConfig, num_tokens: int, width: int):
        super().__init__()
        self.config = config  # the captioner's: a refit that adds a branch records it there
        self.token_width = num_tokens * width  # the tokens' part of an input row
        self.tokens = tokens_branch(self.token_width, config)
        self.stats = stats_branch(config)
        self.native = native_branch(config)
        self.geometry = geometry_branch(config)
        self.embed = nn.Linear(config.aux_targets, width) if config.aux_token else None

    @property
    def extra_tokens(self) -> int:
        """Image tokens the head adds after the captioner's (aux_token: its probabilities)."""
        return int(self.embed is not None)

    def forward(self, view) -> tuple[torch.Tensor, torch.Tensor | None]:
        """-> (logits (B, aux_targets), tokens to append to the image tokens (B, k, D) or None)."""
        logits = self.logits(self.inputs(view))
        extra = None if self.embed is None else self.embed(torch.sigmoid(logits)).unsqueeze(1)
        return logits, extra

    def inputs(self, view) -> torch.Tensor:
        """An input row per photo: (B, n*D) tokens [+ (B, STATS_DIM) photo statistics]
        [+ (B, NATIVE_DIM) native-resolution statistics]. The refits train on these rows."""
        parts = [view.tokens.flatten(1)]  # (B, n, D) -> (B, n*D)
        if self.stats is not None:
            parts.append(photo_stats(view.pixels, _full_map(view, self.config.saliency)).to(parts[0].dtype))
        if self.native is not None:
            if view.photos is None:
                raise ValueError("this model's head reads the photos at native resolution "
                                 "(config.aux_native): pass paths, PIL images or arrays, not a resized tensor")
            parts.append(native_stats(view.photos).to(parts[0]))
        return torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """inputs() rows -> (B, aux_targets) logits: the tokens' branch [+ the statistics'], [the
        native and geometry branches' for their targets], each over its slice of the row."""
        start = self.token_width
        logits = self.tokens(x[:, :start])
        if self.stats is not None:
            logits = logits + self.stats(x[:, start:start + STATS_DIM])
            start += STATS_DIM
        if self.native is not None:
            logits = logits.index_copy(1, torch.tensor(self.config.aux_native, device=logits.device),
                                       self.native(x[:, start:start + NATIVE_DIM]).to(logits.dtype))
        if self.geometry is not None:  # its columns are inside the statistics' slice
            shape = x[:, [self.token_width + c for c in shape_columns()]]  # (B, len(SHAPE))
            logits = logits.index_copy(1, torch.tensor(self.config.aux_geometry, device=logits.device),
                                       self.geometry(shape).to(logits.dtype))
        return logits

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Binary cross-entropy of (B, aux_targets) logits; NaN targets are skipped."""
        if targets.shape != logits.shape:
            raise ValueError(f"targets {tuple(targets.shape)}, expected {tuple(logits.shape)}")
        return masked_bce(logits, targets)

    def branches(self) -> dict[str, nn.Module | None]:
        return {"tokens": self.tokens, "stats": self.stats, "native": self.native, "geometry": self.geometry}


def _full_map(view, source: str) -> torch.Tensor | None:
    """The saliency map the model fused, at the pixels' size (B, 1, S, S); None without saliency."""
    if view.density is None:
        return None
    if source == "iasm":
        return view.log_density.exp()
    return F.interpolate(view.density, size=view.pixels.shape[-2:], mode="bilinear", align_corners=False)


@torch.no_grad()
def probabilities(model, images=None, encoded=None) -> torch.Tensor:
    """The claim head's (B, aux_targets) probabilities for `images` (or their `encoded`)."""
    if model.head is None:
        raise ValueError("this model has no auxiliary head (config.aux_targets = 0)")
    return torch.sigmoid((encoded or model.encode(images)).aux_logits.float())
