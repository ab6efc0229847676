"""(photo, aspect prompt, critique) training samples from CritiqueRecords, and their batches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    image: str
    aspect: str
    text: str
    targets: tuple | None = None  # the record's meta["targets"] for the auxiliary head (None = unknown)
    findings: tuple | None = None  # meta["findings"][aspect]: the claims the text states (findings prompts)
    settings: str | None = None  # meta["settings"]: the camera settings from the photo's EXIF, as text


def samples_from(records, image_root: str = "", aspects: list[str] | None = None) -> list[Sample]:
    """One sample per critique; relative image paths resolved against `image_root`."""
    out = []
    for r in records:
        image = str(Path(image_root) / r.image) if image_root and not Path(r.image).is_absolute() else r.image
        targets = r.meta.get("targets")
        targets = tuple(targets) if targets is not None else None
        findings = r.meta.get("findings") or {}
        for aspect, texts in r.critiques.items():
            if aspects and aspect not in aspects:
                continue
            said = tuple(findings[aspect]) if aspect in findings else None
            out.extend(Sample(image, aspect, t, targets, said, r.meta.get("settings")) for t in texts if t.strip())
    return out


def batch_order(n: int, global_batch: int, epoch: int, seed: int) -> list[list[int]]:
    """Shuffled sample indices of one epoch cut into global batches (the last short one dropped,
    so every process always gets the same number of samples)."""
    import torch

    g = torch.Generator().manual_seed(seed * 100_003 + epoch)
    perm = torch.randperm(n, generator=g).tolist()
    return [perm[i:i + global_batch] for i in range(0, n - global_batch + 1, global_batch)]


def load_batch(samples: list[Sample], config):
    """-> (images (B,3,S,S) in [0,1], prompts, answers). A model with `config.findings` is told
    the claims each text states, as it will be told its head's at inference; one with
    `config.settings` the photo's camera settings where its EXIF has them."""
    from ..images import to_batch

    if config.findings:
        missing = [s.image for s in samples if s.findings is None]
        if missing:
            raise ValueError(f"{missing[0]}: no meta['findings'] for this aspect, and the model's config "
                             "has findings: true (rebuild the data with `asemllm critic data`)")
    images = to_batch([s.image for s in samples], config.vision.image_size)
    prompts = [config.prompt(s.aspect, s.findings if config.findings else None, s.settings) for s in samples]
    return images, prompts, [s.text for s in samples]


def batch_targets(samples: list[Sample], n: int):
    """(B, n) auxiliary targets, NaN where unknown (a null entry, or a record without targets);
    None when the model has no auxiliary head (n = 0)."""
    import torch

    if not n:
        return None
    rows = []
    for s in samples:
        t = s.targets if s.targets is not None else (None,) * n
        if len(t) != n:
            raise ValueError(f"{s.image}: {len(t)} targets in meta['targets'], the model's head has {n}")
        rows.append([float("nan") if v is None else float(v) for v in t])
    return torch.tensor(rows)
