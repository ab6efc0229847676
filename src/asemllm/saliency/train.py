"""`asemllm saliency train`: fit the IASM to real eye fixations (NUS scene 001-340 by default).

The epoch that ships is chosen on a selection split carved out of NUS 001-400 (341-400 by
default), so NUS 401-500 stays untouched for `asemllm saliency eval`.

Photos are letterboxed to the captioner's square input (the IASM sees exactly what it sees inside
the captioner); fixations move with the pixels under every augmentation, and the target density
is recomputed from the moved fixations. Loss = KLD - CC - 0.1 NSS. Validation each epoch (CC and
NSS in the square frame, on the selection photos), best checkpoint kept, `last.pt` resumes exactly.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


@dataclass
class TrainConfig:
    data: str  # NUS scene folder (holds data/stimuli and data/tidy)
    out: str = "runs/iasm"
    epochs: int = 8  # past where validation peaks (docs/MODEL_CARD.md); the best epoch is what ships
    batch_size: int = 16
    lr: float = 1e-3  # decoder and prior
    encoder_lr: float = 2e-4  # the pretrained CNN moves slower
    weight_decay: float = 1e-4
    size: int = 224  # the captioner's square input
    seed: int = 0
    limit: int | None = None  # use only the first N photos of each split (quick trials, tests)
    nss_weight: float = 0.1
    iasm_size: int = 128  # the IASM's own input size (its cost grows with its square)
    # NUS photos (first-last, 1-based) that choose the epoch; the rest of 001-400 trains. "401-500"
    # is the earlier recipe (trained on all of 001-400, chosen on the validation photos).
    selection: str = "341-400"
    # the ViT block the IASM reads (IASMConfig.readout); None: the CNN alone
    readout: int | None = None


@dataclass
class Prepared:
    images: torch.Tensor  # (N, 3, S, S) uint8, letterboxed
    points: list  # N arrays (n_i, 2) x, y in the square frame
    sigmas: list  # N floats: one degree of visual angle in square-frame pixels
    observers: list  # N arrays (n_i,)


def prepare(records, fmt: str, size: int) -> Prepared:
    from tqdm import tqdm

    from ..images import load_image, square, square_points
    from .density import sigma_for

    imgs, pts, sig, obs = [], [], [], []
    for r in tqdm(records, desc="loading photos", leave=False):
        imgs.append(np.asarray(square(load_image(r.image), size)))
        pts.append(square_points(r.points, r.size, size))
        sig.append(sigma_for(fmt, r.size) * size / max(r.size))
        obs.append(r.observers)
    images = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()  # (N, 3, S, S)
    return Prepared(images, pts, sig, obs)


def augment(img: torch.Tensor, pts: np.ndarray, rng: random.Random):
    """One photo (3,S,S) uint8 and its fixations -> a flipped / zoomed / shifted copy, points moved."""
    S = img.shape[-1]
    x = img.float() / 255
    if rng.random() < 0.5:
        x, pts = x.flip(-1), np.stack([S - pts[:, 0], pts[:, 1]], 1)  # corner-origin coordinates
    zoom = rng.uniform(1.0, 1.3)
    c = S / zoom  # crop side
    x0, y0 = rng.uniform(0, S - c), rng.uniform(0, S - c)
    top, left = int(y0), int(x0)
    crop = x[:, top:top + int(c), left:left + int(c)]
    x = F.interpolate(crop[None], size=(S, S), mode="bilinear", align_corners=False)[0]
    pts = (pts - [left, top]) * (S / int(c))
    pts = pts[(pts >= 0).all(1) & (pts[:, 0] < S) & (pts[:, 1] < S)]
    x = (x * rng.uniform(0.8, 1.2) + rng.uniform(-0.08, 0.08)).clamp(0, 1)  # light changes, not places
    return x, pts


def targets(points: list, sigmas: list, size: int):
    """-> density (B,1,S,S) summing to 1, fixation map (B,1,S,S) of 0/1."""
    from .density import density_map

    dens, fix = [], []
    for p, s in zip(points, sigmas):
        dens.append(density_map(p, (size, size), s))
        f = np.zeros((size, size), np.float32)
        ij = np.clip(np.floor(p).astype(int), 0, size - 1)  # a point at x lies in pixel floor(x)
        f[ij[:, 1], ij[:, 0]] = 1
        fix.append(f)
    to = lambda a: torch.from_numpy(np.stack(a)).float()[:, None]  # noqa: E731
    return to(dens), to(fix)


def saliency_loss(log_density: torch.Tensor, density: torch.Tensor, fix: torch.Tensor, nss_weight: float = 0.1):
    """log_density, density, fix: (B,1,S,S) -> (loss, {kld, cc, nss} batch means)."""
    B = log_density.shape[0]
    logp, t, f = log_density.reshape(B, -1), density.reshape(B, -1), fix.reshape(B, -1)
    p = logp.exp()
    kld = (t * (torch.log(t + 1e-12) - logp)).sum(1)
    pc, tc = p - p.mean(1, keepdim=True), t - t.mean(1, keepdim=True)
    cc = (pc * tc).sum(1) / (pc.norm(dim=1) * tc.norm(dim=1) + 1e-12)
    z = pc / (p.std(1, keepdim=True) + 1e-12)
    nss = (z * f).sum(1) / f.sum(1).clamp(min=1)
    loss = (kld - cc - nss_weight * nss).mean()
    return loss, {"kld": kld.mean().item(), "cc": cc.mean().item(), "nss": nss.mean().item()}


def build_iasm(pretrained_encoder: bool = True, image_size: int = 128, readout: int | None = None):
    from ..config import IASMConfig
    from ..models import build_iasm as build

    return build(IASMConfig(weights=None, image_size=image_size, readout=readout), pretrained_encoder)


def selection_range(spec: str) -> tuple[int, int]:
    """"341-400" -> (341, 400): NUS photo numbers, 1-based, inclusive."""
    try:
        first, last = (int(v) for v in spec.split("-"))
    except ValueError:
        raise ValueError(f"selection {spec!r}: expected FIRST-LAST NUS photo numbers, e.g. 341-400") from None
    if not 1 <= first <= last <= 500:
        raise ValueError(f"selection {spec!r}: NUS photos are numbered 1-500")
    return first, last


def split_records(data: str, selection: str):
    """-> (training records, selection records): the selection photos from all of NUS; training
    from 001-400 less the selection (never 401-500)."""
    from .datasets import read_fixations

    first, last = selection_range(selection)
    every = read_fixations("nus", Path(data))
    number = lambda r: int(r.id)  # noqa: E731  ("001" ... "500")
    chosen = [r for r in every.records if first <= number(r) <= last]
    train = [r for r in every.records if number(r) <= 400 and not first <= number(r) <= last]
    return train, chosen, every.skipped


def _freeze_encoder_bn(iasm) -> None:
    """Keep the pretrained CNN's batch-norm statistics: batches of 16 photos would only add noise."""
    for m in iasm.encoder.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.eval()


@torch.no_grad()
def validate(iasm, data: Prepared, batch_size: int) -> dict:
    iasm.eval()
    size = data.images.shape[-1]
    scores = {"kld": [], "cc": [], "nss": []}
    for i in range(0, len(data.points), batch_size):
        x = data.images[i:i + batch_size].float() / 255
        dens, fix = targets(data.points[i:i + batch_size], data.sigmas[i:i + batch_size], size)
        out = iasm(x)
        for k, v in saliency_loss(out.log_density, dens, fix)[1].items():
            scores[k].append(v * len(x))
    n = len(data.points)
    return {k: sum(v) / n for k, v in scores.items()}


def _optimizer(iasm, cfg: TrainConfig, steps: int):
    enc = [p for p in iasm.encoder.parameters()]
    rest = [p for n, p in iasm.named_parameters() if not n.startswith("encoder.")]
    opt = torch.optim.AdamW([{"params": enc, "lr": cfg.encoder_lr}, {"params": rest, "lr": cfg.lr}],
                            weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[cfg.encoder_lr, cfg.lr], total_steps=steps,
                                                pct_start=max(0.1, 2 / steps))
    return opt, sched


def train(cfg: TrainConfig, log=print) -> dict:
    """Train, validating each epoch; resumes from `out/last.pt` when it exists."""
    from tqdm import tqdm

    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    train_records, select_records, skipped = split_records(cfg.data, cfg.selection)
    log(f"train {len(train_records)} photos, selection {len(select_records)} (NUS {cfg.selection}; "
        f"skipped {len(skipped)})")
    tr = prepare(train_records[:cfg.limit], "nus", cfg.size)
    va = prepare(select_records[:cfg.limit], "nus", cfg.size)
    iasm = build_iasm(image_size=cfg.iasm_size, readout=cfg.readout)
    steps_per_epoch = -(-len(tr.points) // cfg.batch_size)
    opt, sched = _optimizer(iasm, cfg, cfg.epochs * steps_per_epoch)
    state = {"epoch": 0, "best_cc": -1.0, "history": []}
    if (out / "last.pt").exists():
        state = _resume(out / "last.pt", iasm, opt, sched)
        log(f"resumed from {out / 'last.pt'} after epoch {state['epoch']}")
    for epoch in range(state["epoch"], cfg.epochs):
        rng = random.Random(cfg.seed * 1000 + epoch)  # the epoch fixes the order and augmentations
        order = list(range(len(tr.points)))
        rng.shuffle(order)
        iasm.train()
        _freeze_encoder_bn(iasm)
        t0, bar = time.time(), tqdm(range(0, len(order), cfg.batch_size), desc=f"epoch {epoch + 1}/{cfg.epochs}")
        for i in bar:
            idx = order[i:i + cfg.batch_size]
            pairs = [augment(tr.images[j], tr.points[j], rng) for j in idx]
            x = torch.stack([p[0] for p in pairs])
            dens, fix = targets([p[1] for p in pairs], [tr.sigmas[j] for j in idx], cfg.size)
            loss, parts = saliency_loss(iasm(x).log_density, dens, fix, cfg.nss_weight)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            bar.set_postfix(loss=f"{loss.item():.3f}", cc=f"{parts['cc']:.3f}",
                            img_s=f"{(i + len(idx)) / (time.time() - t0):.1f}")
        val = validate(iasm, va, cfg.batch_size)
        state["history"].append({"epoch": epoch + 1, **val, "seconds": round(time.time() - t0, 1)})
        if val["cc"] > state["best_cc"]:
            state["best_cc"] = val["cc"]
            save_iasm(iasm, out / "best.safetensors", {"epoch": epoch + 1, **val, "train": asdict(cfg)})
        state["epoch"] = epoch + 1
        _checkpoint(out / "last.pt", iasm, opt, sched, state)
        log(json.dumps(state["history"][-1]))  # after the checkpoint: what is logged is safe
    return state


def _checkpoint(path: Path, iasm, opt, sched, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save({"model": iasm.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                "state": state, "torch_rng": torch.get_rng_state()}, tmp)
    tmp.replace(path)  # never a half-written checkpoint


def _resume(path: Path, iasm, opt, sched) -> dict:
    ck = torch.load(path, weights_only=False)
    iasm.load_state_dict(ck["model"])
    opt.load_state_dict(ck["opt"])
    sched.load_state_dict(ck["sched"])
    torch.set_rng_state(ck["torch_rng"])
    return ck["state"]


def save_iasm(iasm, path: Path, meta: dict) -> None:
    """IASM weights in fp16 (half the size; the maps barely move) plus how they were made."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().half().contiguous() if v.is_floating_point() else v.contiguous()
               for k, v in iasm.state_dict().items()}
    meta = {"config": json.dumps(asdict(iasm.config)), "meta": json.dumps(meta)}
    save_file(tensors, str(path), metadata=meta)
