"""Config JSON and save_pretrained / from_pretrained round trips."""

import json

import pytest
import torch

from asemllm.config import ModelConfig, tiny_config
from asemllm.stages import set_stage
from asemllm.models import load_model, save_model


def test_config_round_trip(tmp_path):
    cfg = tiny_config()
    cfg.save(tmp_path / "c.json")
    assert ModelConfig.load(tmp_path / "c.json") == cfg
    d = cfg.to_dict()
    d["fusion"]["bogus"] = 1
    with pytest.raises(ValueError, match="bogus"):
        ModelConfig.from_dict(d)


def _logits(model, seed=1):
    g = torch.Generator().manual_seed(seed)
    images = torch.rand(2, 3, 64, 64, generator=g)
    with torch.no_grad():
        return model(images, ["Describe.", "Critique the light."], ["soft light", "a cat"]).logits


def test_save_load_identical_logits_with_lora_and_open_gates(tiny, tmp_path):
    set_stage(tiny, "finetune")  # adds LoRA: the config must carry it to the loaded model
    with torch.no_grad():
        for p in tiny.parameters():  # move every trainable part away from its init
            if p.requires_grad:
                p.add_(0.05 * torch.randn_like(p))
    tiny.config.saliency = "iasm"
    save_model(tiny, tmp_path / "m")
    saved = json.loads((tmp_path / "m" / "config.json").read_text())
    assert saved["lm"]["lora"]["r"] == 8
    loaded = load_model(tmp_path / "m")
    assert torch.equal(_logits(tiny), _logits(loaded))


def test_behaviour_comes_from_config_not_folder_name(tiny, tmp_path):
    tiny.config.saliency = "none"
    save_model(tiny, tmp_path / "iasm-lora-model")  # a misleading name changes nothing
    loaded = load_model(tmp_path / "iasm-lora-model")
    assert loaded.config.saliency == "none" and loaded.config.lm.lora is None
    assert torch.equal(_logits(tiny), _logits(loaded))


def test_load_rejects_checkpoint_that_does_not_fit(tiny, tmp_path):
    save_model(tiny, tmp_path / "m")
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["projector"]["reduce"] = 1  # projector input width changes: weights no longer fit
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises((ValueError, RuntimeError), match="projector"):
        load_model(tmp_path / "m")
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_model(tmp_path / "nowhere")


def test_int8_storage_is_within_half_a_step_of_each_row():
    from asemllm.models import INT8_SCALE, from_int8, to_int8

    g = torch.Generator().manual_seed(0)
    big = torch.randn(64, 100, generator=g) * torch.logspace(-3, 1, 64)[:, None]  # rows of very different range
    big[5] = 0  # an all-zero row stays zero (no division by zero)
    state = {"big": big, "small": torch.randn(8, 8, generator=g), "bias": torch.randn(64, generator=g),
             "steps": torch.tensor([3])}
    stored = to_int8(state)
    assert stored["big"].dtype == torch.int8 and stored["big" + INT8_SCALE].shape == (64, 1)
    assert set(stored) == set(state) | {"big" + INT8_SCALE}  # only the large matrix is quantized
    back = from_int8(stored)
    assert set(back) == set(state)
    step = big.abs().amax(1, keepdim=True) / 127
    assert ((back["big"] - big).abs() <= step / 2 + 1e-7).all()
    assert (back["big"] - big).abs().max() > 0  # it really was rounded
    assert back["big"][5].eq(0).all()
    assert all(torch.equal(back[k], state[k]) for k in ("small", "bias", "steps"))


def test_low_rank_factors_load_as_their_product():
    from asemllm.models import LOW_RANK, from_low_rank

    a, b = torch.randn(6, 2), torch.randn(2, 5)
    back = from_low_rank({"w" + LOW_RANK[0]: a, "w" + LOW_RANK[1]: b, "bias": torch.ones(6)})
    assert set(back) == {"w", "bias"} and torch.allclose(back["w"], a @ b)
    with pytest.raises(ValueError, match="w.low_rank_b is missing"):
        from_low_rank({"w" + LOW_RANK[0]: a})
