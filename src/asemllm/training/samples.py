"""(photo, aspect prompt, critique) training samples from CritiqueRecords, and their batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    image: str
    aspect: str
    text: str


def samples_from(records, image_root: str = "", aspects: list[str] | None = None) -> list[Sample]:
    """One sample per critique; relative image paths resolved against `image_root`."""
    out = []
    for r in records:
        image = str(Path(image_root) / r.image) if image_root and not Path(r.image).is_absolute() else r.image
        for aspect, texts in r.critiques.items():
            if aspects and aspect not in aspects:
                continue
            out.extend(Sample(image, aspect, t) for t in texts if t.strip())
    return out


def batch_order(n: int, global_batch: int, epoch: int, seed: int) -> list[list[int]]:
    """Shuffled sample indices of one epoch cut into global batches (the last short one dropped,
    so every process always gets the same number of samples)."""
    import torch

    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    return [perm[i:i + global_batch] for i in range(0, n - global_batch + 1, global_batch)]


def load_batch(samples: list[Sample], size: int, prompts: dict):
    """-> (images (B,3,S,S) in [0,1], prompts, answers)."""
    from ..images import to_batch

    images = to_batch([s.image for s in samples], size)
    return images, [prompts[s.aspect] for s in samples], [s.text for s in samples]
