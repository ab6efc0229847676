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
`finish` runs the three stages (and `critic compact`) from one encoding of the training photos.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

HEAD_INPUT = "aux_head.0"  # the tokens' head's first layer: it reads head_inputs()' token columns


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
    if stats and native:
        raise ValueError("one new head branch at a time: --stats, then --native")
    model = _trained(model_dir)
    new = _new_branch(model, stats, native, seed) if stats or native else None
    _attach(model, new if stats else model.aux_stats_head, new if native else model.aux_native_head,
            native or model.config.aux_native, trains=new or model.aux_head)
    records, samples = _photos(data, image_root)
    x, y = head_inputs(model, samples, log=log)
    report = _refit_stage(model, x, y, records, epochs, new is not None, holdout, seed, log)
    model.save_pretrained(out or model_dir)
    return {"model": out or model_dir, "stats": model.config.aux_stats, "native": model.config.aux_native, **report}


def finish(model_dir: str, data: str, compact_out: str | None = None, image_root: str | None = None,
           holdout: float = 0.1, seed: int = 0, native: list[int] | None = None, ranks: dict | None = None,
           log=None) -> dict:
    """`refit_model` three times (the tokens' head, then stats=True, then `native`, default
    noise_rules()), saved over `model_dir`, then with `compact_out` `critic compact` (`ranks`,
    default RANKS) into it: the same models as those four commands, from one encoding of the
    training photos instead of four (the ViT, IASM and projector are frozen by then, and the
    statistics need no training)."""
    from ..model.stats import STATS_DIM
    from .compact import RANKS, Moments, check_layers, check_out, layer_inputs, save_compact

    native, ranks = native or noise_rules(), ranks or RANKS
    model = _trained(model_dir)
    if model.aux_stats_head is not None or model.aux_native_head is not None:
        raise ValueError(f"{model_dir}: its head has branches already; refit it one stage at a time "
                         "(critic head, --stats, --native)")
    if compact_out:
        check_out(model_dir, compact_out)
        check_layers(model, model_dir, ranks)
    branches = _new_branch(model, True, None, seed), _new_branch(model, False, native, seed)
    _attach(model, *branches, native, trains=None)  # so that one pass reads what every stage needs
    records, samples = _photos(data, image_root)
    hooked = [name for name in ranks if name != HEAD_INPUT] if compact_out else []
    with layer_inputs(model, hooked) as seen:
        x, y = head_inputs(model, samples, log=log)  # (N, tokens | statistics | native statistics)
    width = model.aux_head_width
    report = {"model": model_dir, "photos": len(samples)}
    for name, (stats, nat), w in (("head", (None, None), width), ("stats", (branches[0], None), width + STATS_DIM),
                                  ("native", branches, x.shape[1])):
        _attach(model, stats, nat, native, trains=nat or stats or model.aux_head)
        rows = x[:, :w].contiguous()  # as the stage alone has them: a slice's product may sum in another order
        report[name] = _refit_stage(model, rows, y, records, None, name != "head", holdout, seed, log)
    model.save_pretrained(model_dir)
    if compact_out:
        if HEAD_INPUT in ranks:
            seen[HEAD_INPUT] = Moments()
            seen[HEAD_INPUT].add(x[:, :width])
        unseen = [name for name in ranks if not seen[name].n]
        if unseen:
            raise ValueError(f"{unseen}: not run while the photos are encoded; compact with critic compact")
        moments = {name: seen[name].result() for name in ranks}
        report["compact"] = {"model": compact_out, **save_compact(model, moments, ranks, compact_out)}
    return report


def _trained(model_dir: str):
    """The trained critic at `model_dir`, refused where its head cannot be refitted."""
    from ..model.captioner import AestheticCaptioner

    model = AestheticCaptioner.from_pretrained(model_dir).eval()
    if model.aux_head is None:
        raise ValueError(f"{model_dir}: the model has no auxiliary head (config.aux_targets = 0)")
    if model.aux_embed is not None:
        raise ValueError(f"{model_dir}: its LM reads the head's output (aux_token); refitting would change it")
    return model


def _new_branch(model, stats: bool, native: list[int] | None, seed: int):
    """A new statistics branch (`stats`) or native one (over targets `native`) for the model's
    head; the same weights for the same seed, whichever command makes it."""
    import torch

    from ..model.captioner import native_head, stats_head

    config = copy.copy(model.config)
    config.aux_stats, config.aux_native = True, tuple(native or ())
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return stats_head(config) if stats else native_head(config)


def _attach(model, stats, native, targets, trains) -> None:
    """Give the model's head these branches (None: none; `native` decides `targets`), its config
    saying so; only `trains` trains."""
    model.aux_stats_head, model.aux_native_head = stats, native
    model.config.aux_stats, model.config.aux_native = stats is not None, tuple(targets) if native else ()
    for branch in (model.aux_head, stats, native):
        if branch is not None:
            branch.requires_grad_(branch is trains)


def _photos(data: str, image_root: str | None):
    """-> (records, one training sample per record: the photo and its targets)."""
    from ..data.records import read_jsonl
    from ..training.samples import samples_from

    root = str(Path(data).parent) if image_root is None else image_root
    pairs = [(r, s[0]) for r in read_jsonl(data) if (s := samples_from([r], root))]
    if not pairs:
        raise ValueError(f"{data}: no records with a critique")
    records, samples = zip(*pairs)
    return records, samples


def _refit_stage(model, x, y, records, epochs, new: bool, holdout: float, seed: int, log) -> dict:
    """Train the head's trainable branch on rows x; a new branch: 100 epochs at 3x the rate."""
    train, held = split_by_photo(records, holdout, seed)
    return refit(_heads(model), x, y, train, held, epochs=epochs or (100 if new else 20),
                 lr=3e-3 if new else 1e-3, seed=seed, log=log)


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
