"""Refit a trained critic's auxiliary head on its own image tokens (the recipe's second stage).

Joint training shows the head each training photo about once (450 steps x 8 samples over 3,464
photos), while the LM needs those steps for its 7 aspects per photo. With everything else frozen,
the image tokens of every training photo are computed once and the head alone trains on them for
a few epochs, in seconds. A tenth of the source photos (with all their edited versions, so no
near-copy of a held-out photo trains) is held out to choose the epoch. Measured on the critic of
configs/critic-cpu.yaml: held-out loss 0.319 -> 0.293 at epoch 4; it overfits after that.
`--stats` then adds a branch over the photo statistics (asemllm.model.stats) and trains it alone:
held-out loss 0.293 -> 0.168 (no saliency: 0.321 -> 0.225), best at epochs 52 and 38 of 100.
`--native` then lets a linear branch over the photo's noise at native resolution decide the noise
claims alone (noise_rules(); asemllm.model.native).
A model whose LM reads the head's output (aux_token) is refused: refitting would change its input.
"""

from __future__ import annotations

import random
from pathlib import Path


def head_inputs(model, samples, batch: int = 16, log=None):
    """Samples (one per photo) -> (head inputs (N, F) float32, targets (N, aux_targets), NaN = unknown)."""
    import torch

    from ..training.samples import batch_targets

    feats = []
    with torch.no_grad():
        for i in range(0, len(samples), batch):
            feats.append(model.head_inputs([s.image for s in samples[i:i + batch]]).float().cpu())  # (b, F)
            if log:
                log(f"head inputs: {min(i + batch, len(samples))}/{len(samples)}")
    return torch.cat(feats), batch_targets(samples, model.config.aux_targets)


def split_by_photo(records, holdout: float, seed: int) -> tuple[list[int], list[int]]:
    """Record indices (train, held out); records of one source photo (meta.photo) stay together."""
    photos = sorted({r.meta.get("photo", r.id) for r in records})
    random.Random(seed).shuffle(photos)
    held = set(photos[:max(1, round(holdout * len(photos)))])
    train = [i for i, r in enumerate(records) if r.meta.get("photo", r.id) not in held]
    return train, [i for i, r in enumerate(records) if r.meta.get("photo", r.id) in held]


def refit(head, x, y, train, held, epochs: int = 20, lr: float = 1e-3, weight_decay: float = 0.05,
          batch: int = 64, seed: int = 0, log=None) -> dict:
    """Train `head` (in place) on rows `train` of (x, y) with masked BCE; keep the weights of the
    epoch with the lowest held-out loss. -> the held-out loss and accuracy before and after."""
    import copy

    import torch

    from ..model.captioner import masked_bce

    def loss_of(rows):
        with torch.no_grad():
            logits, t = head(x[rows]), y[rows]
            known = ~t.isnan()
            acc = ((logits[known] > 0) == (t[known] > 0.5)).float().mean().item()
            return masked_bce(logits, t).item(), acc

    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW([p for p in head.parameters() if p.requires_grad], lr=lr, weight_decay=weight_decay)
    train_t, start = torch.tensor(train), loss_of(held)
    best, best_state, best_epoch = start[0], copy.deepcopy(head.state_dict()), 0
    for epoch in range(1, epochs + 1):
        head.train()
        for idx in train_t[torch.randperm(len(train_t), generator=g)].split(batch):
            loss = masked_bce(head(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        head.eval()
        held_loss, held_acc = loss_of(held)
        if log:
            log(f"epoch {epoch}: held-out loss {held_loss:.4f}, accuracy {held_acc:.4f}")
        if held_loss < best:
            best, best_state, best_epoch = held_loss, copy.deepcopy(head.state_dict()), epoch
    head.load_state_dict(best_state)
    return {"held_out_photos_records": len(held), "train_records": len(train), "best_epoch": best_epoch,
            "held_out_loss": {"before": round(start[0], 4), "after": round(best, 4)},
            "held_out_accuracy": {"before": round(start[1], 4), "after": round(loss_of(held)[1], 4)}}


def refit_model(model_dir: str, data: str, image_root: str | None = None, out: str | None = None,
                epochs: int | None = None, holdout: float = 0.1, seed: int = 0, stats: bool = False,
                native: list[int] | None = None, log=None) -> dict:
    """Load a trained critic, refit its head on `data` (CritiqueRecords with meta.targets), save it
    to `out` (default: over `model_dir`). `stats`: add a new statistics branch (config.aux_stats)
    and train it alone, the tokens' head frozen (training both overfits within a few epochs, as the
    token features outnumber the photos); its few inputs learn slower, so 100 epochs at 3x the rate.
    `native` (target indices, e.g. noise_rules()): a linear branch over the native-resolution
    statistics decides those targets alone (config.aux_native); it trains alone, the rest frozen.
    The LM only reads the head's findings, so it is unchanged either way."""
    from ..data.records import read_jsonl
    from ..model.captioner import AestheticCaptioner, native_head, stats_head
    from ..training.samples import samples_from

    model = AestheticCaptioner.from_pretrained(model_dir).eval()
    if model.aux_head is None:
        raise ValueError(f"{model_dir}: the model has no auxiliary head (config.aux_targets = 0)")
    if model.aux_embed is not None:
        raise ValueError(f"{model_dir}: its LM reads the head's output (aux_token); refitting would change it")
    if stats and native:
        raise ValueError("one new head branch at a time: --stats, then --native")
    if stats:
        model.config.aux_stats = True
        model.aux_stats_head = stats_head(model.config)
        model.aux_head.requires_grad_(False)
        if model.aux_native_head is not None:
            model.aux_native_head.requires_grad_(False)
    if native:
        model.config.aux_native = tuple(native)
        model.aux_native_head = native_head(model.config)
        for branch in (model.aux_head, model.aux_stats_head):
            if branch is not None:
                branch.requires_grad_(False)
    root = str(Path(data).parent) if image_root is None else image_root
    pairs = [(r, s[0]) for r in read_jsonl(data) if (s := samples_from([r], root))]  # one sample per photo
    if not pairs:
        raise ValueError(f"{data}: no records with a critique")
    records, samples = zip(*pairs)
    x, y = head_inputs(model, samples, log=log)
    train, held = split_by_photo(records, holdout, seed)
    new = stats or native
    report = refit(_heads(model), x, y, train, held, epochs=epochs or (100 if new else 20),
                   lr=3e-3 if new else 1e-3, seed=seed, log=log)
    model.save_pretrained(out or model_dir)
    return {"model": out or model_dir, "stats": model.config.aux_stats, "native": model.config.aux_native, **report}


def noise_rules() -> list[int]:
    """The teacher's rules (indices into ALL_RULES, the critic's head targets) that read noise alone."""
    from .teacher import ALL_RULES

    return [i for i, r in enumerate(ALL_RULES) if r.needs == ("noise",)]


def _heads(model):
    """The model's head branches as one module over head_inputs() rows (what refit trains)."""
    from torch import nn

    class Heads(nn.Module):
        def __init__(self):
            super().__init__()
            self.tokens, self.stats, self.native = model.aux_head, model.aux_stats_head, model.aux_native_head

        def forward(self, x):
            return model.aux_logits(x)

    return Heads()
