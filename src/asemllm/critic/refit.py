"""Refit a trained critic's claim head on its own image tokens (`asemllm critic head` and `finish`).

Joint training shows the head each training photo about once, while the LM needs those steps for
its seven aspects per photo. With everything else frozen, the head's input rows of every training
photo are computed once and the head alone trains on them for some epochs, in seconds. A tenth
of the source photos (with all their edited versions, so no near-copy of a held-out photo trains)
is held out to choose the epoch. Stages, each training one branch of the claim head
(asemllm.critic.claim_head) with the rest frozen: the tokens' branch; `--stats`, a branch over the
photo statistics; `--native`, a linear branch over the photo's noise at native resolution that
decides the noise claims alone (noise_rules()); `--geometry`, a small MLP over the saliency map's
geometry that decides the placement, subject-size and balance claims alone (geometry_rules()).
A model whose LM reads the head's output (aux_token) is refused: refitting would change its input.
`finish` runs the four stages (and `critic compact`) from one encoding of the training photos.
What each stage gave: docs/DESIGN_NOTES.md.
"""

from __future__ import annotations

import copy
import random
from pathlib import Path

HEAD_INPUT = "head.tokens.0"  # the tokens' branch's first layer: it reads head_inputs()' token columns


def head_inputs(model, samples, batch: int = 16, log=None):
    """Samples (one per photo) -> (the claim head's input rows (N, F) float32, targets (N, aux_targets),
    NaN = unknown)."""
    import torch

    from ..training.samples import batch_targets

    feats = []
    with torch.no_grad():
        for i in range(0, len(samples), batch):
            view = model.see([s.image for s in samples[i:i + batch]])
            feats.append(model.head.inputs(view).float().cpu())  # (b, F)
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

    from .claim_head import masked_bce

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
                native: list[int] | None = None, geometry: list[int] | None = None, log=None) -> dict:
    """Load a trained critic, refit its head on `data` (CritiqueRecords with meta.targets), save it
    to `out` (default: over `model_dir`). `stats`: add a new statistics branch (config.aux_stats)
    and train it alone, the tokens' head frozen (training both overfits within a few epochs, as the
    token features outnumber the photos); its few inputs learn slower, so 100 epochs at 3x the rate.
    `native` (target indices, e.g. noise_rules()): a linear branch over the native-resolution
    statistics decides those targets alone (config.aux_native); it trains alone, the rest frozen.
    `geometry` (e.g. geometry_rules(), after `stats`): a small MLP over the saliency map's
    geometry decides those targets alone (config.aux_geometry), trained alone.
    The LM only reads the head's findings, so it is unchanged either way."""
    from ..models import save_model

    kinds = [k for k, on in (("stats", stats), ("native", native), ("geometry", geometry)) if on]
    if len(kinds) > 1:
        raise ValueError("one new head branch at a time: --stats, then --native or --geometry")
    kind = kinds[0] if kinds else None
    model = _trained(model_dir)
    if kind == "geometry" and not model.config.aux_stats:
        raise ValueError(f"{model_dir}: the geometry branch reads the photo statistics; refit with --stats first")
    if kind == "geometry" and model.config.saliency == "none":
        raise ValueError(f"{model_dir}: the model has no saliency map (saliency 'none'), so no geometry to read")
    branches = _branches(model)
    native, geometry = native or model.config.aux_native, geometry or model.config.aux_geometry
    new = _new_branch(model, kind, seed, native, geometry) if kind else None
    if kind:
        branches[kind] = new if kind == "stats" else (new, native if kind == "native" else geometry)
    _attach(model, new or model.head.tokens, **branches)
    records, samples = _photos(data, image_root)
    x, y = head_inputs(model, samples, log=log)
    report = _refit_stage(model, x, y, records, epochs, kind, holdout, seed, log)
    save_model(model, out or model_dir)
    return {"model": out or model_dir, "stats": model.config.aux_stats, "native": model.config.aux_native,
            "geometry": model.config.aux_geometry, **report}


def finish(model_dir: str, data: str, compact_out: str | None = None, image_root: str | None = None,
           holdout: float = 0.1, seed: int = 0, native: list[int] | None = None,
           geometry: list[int] | None = None, ranks: dict | None = None, log=None) -> dict:
    """`refit_model` four times (the tokens' head, then stats=True, then `native`, default
    noise_rules(), then `geometry`, default geometry_rules(), none without a saliency map), the
    horizon's claims handed to the measurements (config.aux_measured), saved over `model_dir`,
    then with `compact_out` `critic compact` (`ranks`, default RANKS) into it: the same models
    as those five commands, from one encoding of the training photos instead of five (the ViT, IASM and projector are frozen by then, and the statistics need no training)."""
    from ..models import save_model
    from .compact import RANKS, Moments, check_layers, check_out, layer_inputs, save_compact
    from .photo_stats import STATS_DIM

    native, geometry, ranks = native or noise_rules(), geometry or geometry_rules(), ranks or RANKS
    model = _trained(model_dir)
    if model.config.saliency == "none":  # its map is uniform: a geometry branch would learn base rates
        geometry = []
    if any(b is not None for b in (model.head.stats, model.head.native, model.head.geometry)):
        raise ValueError(f"{model_dir}: its head has branches already; refit it one stage at a time "
                         "(critic head, --stats, --native, --geometry)")
    if compact_out:
        check_out(model_dir, compact_out)
        check_layers(model, model_dir, ranks)
    stats, nat, geo = (_new_branch(model, kind, seed, native, geometry) for kind in ("stats", "native", "geometry"))
    every = {"stats": stats, "native": (nat, native), "geometry": (geo, geometry)}
    _attach(model, None, **every)  # so that one pass reads what every stage needs
    records, samples = _photos(data, image_root)
    hooked = [name for name in ranks if name != HEAD_INPUT] if compact_out else []
    with layer_inputs(model, hooked) as seen:
        x, y = head_inputs(model, samples, log=log)  # (N, tokens | statistics | native statistics)
    width = model.head.token_width
    report = {"model": model_dir, "photos": len(samples)}
    stages = (("head", {}, width, model.head.tokens), ("stats", {"stats": stats}, width + STATS_DIM, stats),
              ("native", {"stats": stats, "native": every["native"]}, x.shape[1], nat),
              ("geometry", every, x.shape[1], geo))
    for name, branches, w, trains in (stage for stage in stages if stage[3] is not None):
        _attach(model, trains, **branches)
        rows = x[:, :w].contiguous()  # as the stage alone has them: a slice's product may sum in another order
        kind = None if name == "head" else name
        report[name] = _refit_stage(model, rows, y, records, None, kind, holdout, seed, log)
    model.config.aux_measured = tuple(horizon_rules())  # no weights: the teacher's rules on the measured tilt
    save_model(model, model_dir)
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
    from ..models import load_model

    model = load_model(model_dir).eval()
    if model.head is None:
        raise ValueError(f"{model_dir}: the model has no auxiliary head (config.aux_targets = 0)")
    if model.head.embed is not None:
        raise ValueError(f"{model_dir}: its LM reads the head's output (aux_token); refitting would change it")
    return model


def _new_branch(model, kind: str, seed: int, native=(), geometry=()):
    """A new branch of the model's head, "stats", "native" or "geometry", in a model whose native and
    geometry branches decide `native` and `geometry`; the same weights for the same seed, whichever
    command makes it."""
    import torch

    from .claim_head import geometry_branch, native_branch, stats_branch

    config = copy.copy(model.config)
    config.aux_stats, config.aux_native, config.aux_geometry = True, tuple(native), tuple(geometry)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return {"stats": stats_branch, "native": native_branch, "geometry": geometry_branch}[kind](config)


def _branches(model) -> dict:
    """The model's branches as _attach takes them."""
    head = model.head
    return {"stats": head.stats, "native": (head.native, model.config.aux_native),
            "geometry": (head.geometry, model.config.aux_geometry)}


def _attach(model, trains, stats=None, native=None, geometry=None) -> None:
    """Give the model's head these branches (`stats`: a module or None; `native`, `geometry`:
    (module, the targets it decides) or None), its config saying so; only `trains` trains."""
    model.head.stats, model.config.aux_stats = stats, stats is not None
    for kind, (module, targets) in (("native", native or (None, ())), ("geometry", geometry or (None, ()))):
        setattr(model.head, kind, module)
        setattr(model.config, f"aux_{kind}", tuple(targets) if module is not None else ())
    for branch in model.head.branches().values():
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


# (epochs, learning rate, weight decay) of each stage. A new branch's few inputs learn slower than
# the tokens' head: 100 epochs at 3x the rate. The geometry branch's claims are sharp bands of its
# four inputs: no decay, 200 epochs at 10x (compared in docs/DESIGN_NOTES.md, "The geometry branch").
SCHEDULES = {None: (20, 1e-3, 0.05), "stats": (100, 3e-3, 0.05), "native": (100, 3e-3, 0.05),
             "geometry": (200, 1e-2, 0.0)}


def _refit_stage(model, x, y, records, epochs, kind: str | None, holdout: float, seed: int, log) -> dict:
    """Train the head's trainable branch (`kind`; None: the tokens' head) on rows x."""
    train, held = split_by_photo(records, holdout, seed)
    default, lr, decay = SCHEDULES[kind]
    return refit(_heads(model), x, y, train, held, epochs=epochs or default, lr=lr, weight_decay=decay,
                 seed=seed, log=log)


def noise_rules() -> list[int]:
    """The teacher's rules (indices into ALL_RULES, the critic's head targets) that read noise alone."""
    from .teacher import ALL_RULES

    return [i for i, r in enumerate(ALL_RULES) if r.needs == ("noise",)]


def horizon_rules() -> list[int]:
    """The teacher's rules that read the horizon's tilt alone: `critic finish` has the findings take
    them from the measurements (config.aux_measured)."""
    from .teacher import ALL_RULES

    return [i for i, r in enumerate(ALL_RULES) if r.needs == ("horizon_tilt",)]


def geometry_rules() -> list[int]:
    """The teacher's rules that read only the saliency map's geometry: placement, subject size, balance."""
    from .teacher import ALL_RULES

    shape = {"centre_offset", "subject_position", "subject_size", "balance"}
    return [i for i, r in enumerate(ALL_RULES) if r.needs and set(r.needs) <= shape]


def _heads(model):
    """The model's claim head as one module over its input rows (what refit trains)."""
    from torch import nn

    class Rows(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = model.head

        def forward(self, x):
            return self.head.logits(x)

    return Rows()
