"""Shrink a trained critic's two largest matrices to low rank, keeping what they do on its photos.

The projector's first layer (576 x 6,928: per image token, 16 ViT patches, their early-block
statistics and saliency) and the claim head's first layer (256 x 9,216: the 16 image tokens)
are most of a full-rank critic's bytes. As matrices they are not low-rank (a rank of a few hundred
keeps only part of the projector's squared norm), but the inputs they see are: neighbouring patches'
features move together. So each is replaced by the rank-r matrix W' closest to it on the training
photos' inputs x: W' minimises E||(W - W') x||^2 (C = Cov(x), with a small ridge), which is
W S's SVD (S = C^1/2) cut to r and mapped back by S^-1, that is U_r U_r^T W with U_r the top r
eigenvectors of W C W^T (out x out, small: no decomposition of the 9,216-wide C is needed); the
bias takes the mean's share. W' is stored as
factors A (out, r) @ B (r, in), B's rows orthonormal so that int8 with a scale per row suits them,
and multiplied out at load (asemllm.models.from_low_rank): the model computes as a dense one.
What it keeps of the critic: docs/DESIGN_NOTES.md ("Storage: int8 and low rank").
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

RANKS = {"projector.mlp.0": 128, "head.tokens.0": 64}
RIDGE = 1e-3  # added to Cov(x)'s eigenvalues, times their mean: directions the photos never vary in


class Moments:
    """Running mean and covariance of rows, in float64 (the inputs of a layer over many photos)."""

    def __init__(self):
        self.n, self.total, self.outer = 0, 0.0, 0.0

    def add(self, x) -> None:
        x = x.reshape(-1, x.shape[-1]).double()  # (B, [tokens,] in) -> (N, in)
        self.n += x.shape[0]
        self.total = self.total + x.sum(0)
        self.outer = self.outer + x.T @ x

    def result(self):
        """-> (mean (in,), covariance (in, in))."""
        import torch

        mean = self.total / self.n
        return mean, self.outer / self.n - torch.outer(mean, mean)


@contextmanager
def layer_inputs(model, layers):
    """Within: every forward pass adds `layers`' inputs to the yielded {layer: Moments}."""
    seen = {name: Moments() for name in layers}
    handles = [model.get_submodule(name).register_forward_pre_hook(
        lambda _module, inputs, m=seen[name]: m.add(inputs[0])) for name in layers]
    try:
        yield seen
    finally:
        for h in handles:
            h.remove()


def input_moments(model, images, layers, batch: int = 32, log=None) -> dict:
    """{layer: (mean (in,), covariance (in, in))} of each layer's input over `images` (paths or PIL
    images, encoded `batch` at a time), in float64."""
    import torch

    with layer_inputs(model, layers) as seen, torch.no_grad():
        for i in range(0, len(images), batch):
            model.encode(images[i:i + batch])
            if log:
                log(f"compact: inputs of {min(i + batch, len(images))}/{len(images)} photos")
    return {name: m.result() for name, m in seen.items()}


def closest_low_rank(weight, mean, cov, rank: int, ridge: float = RIDGE):
    """weight (out, in) -> (A (out, r), B (r, in), bias shift (out,), share of W x's variance lost):
    A @ B is the rank-r matrix closest to `weight` on inputs of this mean and covariance."""
    import torch

    if not 1 <= rank < min(weight.shape):
        raise ValueError(f"rank {rank}: choose 1 to {min(weight.shape) - 1} for a {tuple(weight.shape)} matrix")
    w = weight.double()
    eps = ridge * cov.diagonal().sum() / cov.shape[0]  # the ridge, times C's mean eigenvalue
    d2, u = torch.linalg.eigh(w @ cov @ w.T + eps * (w @ w.T))  # (W S)(W S)^T, ascending
    d2, u = d2.flip(0).clamp_min(0), u.flip(1)
    a, b = u[:, :rank], u[:, :rank].T @ w  # W' = a @ b = U_r U_r^T W
    q_b, r_b = torch.linalg.qr(b.T)  # b = r_b^T q_b^T: orthonormal rows for B
    a, b = a @ r_b.T, q_b.T
    lost = float(d2[rank:].sum() / d2.sum())
    shift = (w - a @ b) @ mean  # W x + c = W' x + (c + (W - W') mean) on average
    return a.float(), b.contiguous().float(), shift.float(), lost


def compact(model_dir: str, data: str, out: str, ranks: dict | None = None, log=None) -> dict:
    """Load a trained critic, fit `ranks` (default RANKS) on the photos of `data` (its training
    records), save it to `out` with those matrices as factors. -> a report (photos, ranks, variance lost)."""
    from ..data.records import read_jsonl
    from ..models import load_model

    ranks = ranks or RANKS
    check_out(model_dir, out)
    model = load_model(model_dir).eval()
    root = Path(data).parent
    images = [str(root / r.image) for r in read_jsonl(data)]  # paths: read a batch at a time
    if not images:
        raise ValueError(f"{data}: no training records")
    check_layers(model, model_dir, ranks)  # before the long pass over the photos
    moments = input_moments(model, images, list(ranks), log=log)
    return {"model": out, "photos": len(images), **save_compact(model, moments, ranks, out)}


def check_out(model_dir: str, out: str) -> None:
    if Path(out).resolve() == Path(model_dir).resolve():
        raise ValueError(f"--out {out}: write the compact critic beside {model_dir}, not over it")


def check_layers(model, model_dir: str, ranks: dict) -> None:
    for name in ranks:
        layer = dict(model.named_modules()).get(name)
        if getattr(layer, "bias", None) is None:
            raise ValueError(f"{model_dir}: the model has no layer {name} with a bias (to take the mean's share)")


def save_compact(model, moments: dict, ranks: dict, out: str) -> dict:
    """Replace `ranks`' layers of `model` (in place) by their closest low-rank matrices on inputs of
    `moments` ({layer: (mean, covariance)}); save it to `out` with them as factors."""
    import torch
    from safetensors.torch import load_file, save_file

    from ..models import LOW_RANK, WEIGHTS, save_model

    factors, lost = {}, {}
    for name, rank in ranks.items():
        layer = model.get_submodule(name)
        a, b, shift, lost[name] = closest_low_rank(layer.weight.detach(), *moments[name], rank)
        with torch.no_grad():
            layer.weight.copy_(a @ b)
            layer.bias.add_(shift)
        factors[name + ".weight"] = (a, b)
    save_model(model, out)
    state = load_file(Path(out) / WEIGHTS)
    for key, (a, b) in factors.items():
        state.pop(key, None)  # or its factors, as loaded (save_model): replaced below
        state[key + LOW_RANK[0]], state[key + LOW_RANK[1]] = a, b
    save_file(state, Path(out) / WEIGHTS, metadata={"format": "pt", "low_rank": json.dumps(ranks)})
    return {"ranks": ranks, "variance_lost": {k: round(v, 4) for k, v in lost.items()}}
