"""The IASM's readout of the ViT: the same map inside the captioner and alone, no saliency leaking
into the tokens it reads, and models written before the readout loading as they were."""

import json
from dataclasses import replace

import pytest
import torch

from asemllm.config import IASMConfig, ModelConfig, tiny_config


def _reading_config(readout: int = 0) -> ModelConfig:
    cfg = tiny_config()
    cfg.iasm = replace(cfg.iasm, readout=readout, readout_backbone=cfg.vision.backbone)
    return cfg


def _captioner(cfg):
    from asemllm.models import build_model

    torch.manual_seed(0)
    return build_model(cfg)


def test_captioner_map_equals_the_iasm_run_alone_on_the_same_tower():
    from asemllm.model.ias_vit import ViTPrefix

    model = _captioner(_reading_config(0))
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        view = model.see(images)
        iasm = model.iasm
        v = model.config.vision
        iasm.attach_vit(ViTPrefix(model.vision.tower, iasm.config.readout, v.mean, v.std, v.image_size))
        alone = iasm(images)
    assert torch.allclose(view.log_density, alone.log_density, atol=1e-5)
    assert torch.allclose(view.density, alone.grid_density, atol=1e-5)


def test_the_readout_changes_the_map_and_reads_tokens_before_any_fusion():
    """With the fusion gates open, the map must not depend on them: the readout block comes first."""
    model = _captioner(_reading_config(0))
    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        before = model.see(images).log_density
        for block in model.vision.fusion.values():
            block.attn_gate.fill_(1.0)
        after = model.see(images)
        assert torch.allclose(before, after.log_density, atol=1e-6)
        model.iasm.readout[1].weight.mul_(5)  # the readout really feeds the map
        assert not torch.allclose(before, model.see(images).log_density, atol=1e-4)


def test_a_readout_after_the_first_fusion_block_is_refused():
    cfg = _reading_config(1)
    cfg.fusion = replace(cfg.fusion, layers=(0,))
    with pytest.raises(ValueError, match="after the first fusion block"):
        _captioner(cfg)


def test_saliency_ablations_still_run_with_a_reading_iasm():
    for source in ("none", "centre-bias", "random"):
        cfg = _reading_config(0)
        cfg.saliency = source
        view = _captioner(cfg).see(torch.rand(1, 3, 64, 64))
        assert (view.log_density is None) == (source == "none")


def test_configs_written_before_the_readout_load_unchanged():
    old = {"backbone": "efficientnet-lite0", "image_size": 128, "decoder_dim": 64, "centre_bias": True,
           "weights": "bundled"}
    cfg = ModelConfig.from_dict({**ModelConfig().to_dict(), "iasm": old})
    assert cfg.iasm.readout is None and IASMConfig().readout is None


@pytest.mark.slow
def test_bundled_weights_follow_the_architecture_a_config_names():
    """A config of the CNN-only IASM (the bundled critic's) gets the CNN-only weights it was
    trained with; the IASM alone gets the current bundled one."""
    from importlib.resources import files

    from safetensors import safe_open

    from asemllm.models import _iasm_weights_path, iasm_weights_config

    critic = json.loads((files("asemllm") / "weights" / "critic" / "config.json").read_text())
    cnn = IASMConfig(**critic["iasm"])
    path = _iasm_weights_path("bundled", cnn)
    with safe_open(str(path), "pt") as f:
        recorded, keys = json.loads(f.metadata()["config"]), list(f.keys())
    assert recorded.get("readout") is None and recorded["image_size"] == cnn.image_size
    assert not any(k.startswith("readout.") for k in keys)
    shipped = iasm_weights_config("bundled")
    assert _iasm_weights_path("bundled", shipped) == _iasm_weights_path("bundled")
