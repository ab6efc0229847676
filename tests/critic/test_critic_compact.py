"""Low-rank storage of a critic's largest matrices, fitted on its training photos (critic compact)."""

import json

import pytest
import torch

from asemllm.critic.compact import closest_low_rank, compact
from asemllm.data.records import CritiqueRecord, write_jsonl
from asemllm.models import save_model

PHOTOS = ["mate/LadyBird.jpg", "mate/YellowFlower.jpg", "misc/grace_hopper.jpg", "mate/Storm.jpg"]


def _moments(x):
    return x.double().mean(0), torch.cov(x.double().T, correction=0)


def test_closest_low_rank_is_exact_where_the_inputs_lie():
    """Inputs in a 3-dim (offset) subspace of 20: a rank-3 matrix does what a full-rank W does on
    them; W's own best rank-3 truncation does not, as it ignores where the inputs are."""
    g = torch.Generator().manual_seed(0)
    w = torch.randn(8, 20, generator=g)
    x = torch.randn(500, 3, generator=g) @ torch.randn(3, 20, generator=g) + 0.5
    a, b, shift, lost = closest_low_rank(w, *_moments(x), rank=3, ridge=1e-9)
    assert a.shape == (8, 3) and b.shape == (3, 20) and lost < 1e-6
    assert torch.allclose(x @ (a @ b).T + shift, x @ w.T, atol=1e-3)
    assert torch.allclose(b @ b.T, torch.eye(3), atol=1e-5)  # orthonormal rows: int8 per row suits them
    u, s, vt = torch.linalg.svd(w)
    assert (x @ ((u[:, :3] * s[:3]) @ vt[:3]).T - x @ w.T).abs().max() > 0.5


def test_closest_low_rank_refuses_a_rank_that_saves_nothing():
    w = torch.randn(8, 20)
    with pytest.raises(ValueError, match="rank 8"):
        closest_low_rank(w, *_moments(torch.randn(50, 20)), rank=8)


def _tiny_critic(tmp_path):
    from asemllm.models import build_model
    from asemllm.config import tiny_config

    cfg = tiny_config()
    cfg.aux_targets, cfg.aux_hidden = 2, 16
    torch.manual_seed(0)
    model = build_model(cfg).eval()
    save_model(model, tmp_path / "model")
    return model


def test_compact_stores_factors_that_fit_its_photos_better_than_plain_truncation(shared_data, tmp_path):
    from safetensors import safe_open

    from asemllm.models import INT8_SCALE, LOW_RANK, load_model
    from asemllm.critic.bundle import bundle
    from asemllm.images import load_image

    original = _tiny_critic(tmp_path)
    paths = [str(shared_data / "photos" / p) for p in PHOTOS]
    write_jsonl([CritiqueRecord(id=p, image=path, split="train", critiques={"focus": ["Sharp."]})
                 for p, path in zip(PHOTOS, paths)], tmp_path / "train.jsonl")
    ranks = {"projector.mlp.0": 32, "head.tokens.0": 8}  # of (64, 128) and (16, 1024)
    report = compact(str(tmp_path / "model"), str(tmp_path / "train.jsonl"), str(tmp_path / "compact"), ranks)
    assert report["photos"] == 4 and all(0 <= v < 1 for v in report["variance_lost"].values())

    with safe_open(str(tmp_path / "compact" / "model.safetensors"), "pt") as f:
        keys, meta = set(f.keys()), f.metadata()
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in keys}
    assert "projector.mlp.0.weight" not in keys and json.loads(meta["low_rank"]) == ranks
    assert shapes["projector.mlp.0.weight" + LOW_RANK[0]] == (64, 32)
    assert shapes["head.tokens.0.weight" + LOW_RANK[1]] == (8, 1024)

    small = load_model(tmp_path / "compact")
    assert torch.linalg.matrix_rank(small.projector.mlp[0].weight) <= 32
    photos = [load_image(p) for p in paths]
    plain = load_model(tmp_path / "model")
    u, s, vt = torch.linalg.svd(plain.projector.mlp[0].weight.detach())
    with torch.no_grad():
        plain.projector.mlp[0].weight.copy_((u[:, :32] * s[:32]) @ vt[:32])
        want = original.encode(photos).embeds
        err = {name: ((m.encode(photos).embeds - want).norm() / want.norm()).item()
               for name, m in (("fitted", small), ("plain", plain))}
    assert err["fitted"] < err["plain"] / 2, err

    bundle(tmp_path / "compact", tmp_path / "bundled", force=True)  # the factors stay factors, in int8
    with safe_open(str(tmp_path / "bundled" / "model.safetensors"), "pt") as f:
        assert f.get_slice("projector.mlp.0.weight" + LOW_RANK[1]).get_dtype() == "I8"
        assert "projector.mlp.0.weight" + LOW_RANK[1] + INT8_SCALE in set(f.keys())
    again = load_model(tmp_path / "bundled")
    assert torch.allclose(again.projector.mlp[0].weight, small.projector.mlp[0].weight, atol=0.02)

    # saved again (a refit of the head saves the whole model): the factors as loaded, unless the layer changed
    with torch.no_grad():
        small.head.tokens[0].weight.mul_(2)
    save_model(small, tmp_path / "resaved")
    with safe_open(str(tmp_path / "resaved" / "model.safetensors"), "pt") as f:
        keys = set(f.keys())
        assert torch.equal(f.get_tensor("projector.mlp.0.weight" + LOW_RANK[0]),
                           small.low_rank["projector.mlp.0.weight"][0])
    assert "projector.mlp.0.weight" not in keys and "head.tokens.0.weight" in keys
    assert not {"head.tokens.0.weight" + suffix for suffix in LOW_RANK} & keys
    assert torch.equal(load_model(tmp_path / "resaved").projector.mlp[0].weight, small.projector.mlp[0].weight)


def test_compact_will_not_write_over_its_source(tmp_path):
    _tiny_critic(tmp_path)
    with pytest.raises(ValueError, match="not over it"):
        compact(str(tmp_path / "model"), str(tmp_path / "train.jsonl"), str(tmp_path / "model"))


def test_compact_names_a_layer_the_model_lacks(tmp_path):
    _tiny_critic(tmp_path)
    write_jsonl([CritiqueRecord(id="a", image="a.jpg", split="train", critiques={"focus": ["Sharp."]})],
                tmp_path / "train.jsonl")
    with pytest.raises(ValueError, match="no layer head.tokens.9"):
        compact(str(tmp_path / "model"), str(tmp_path / "train.jsonl"), str(tmp_path / "out"), {"head.tokens.9": 2})
