"""The shipped run configs parse, and their model parts are valid model configs."""

from pathlib import Path

import pytest

from asemllm.config import ModelConfig
from asemllm.training.settings import TrainSettings

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


@pytest.mark.parametrize("path", [p for p in CONFIGS if not p.name.startswith("accelerate")], ids=lambda p: p.name)
def test_run_config_is_valid(path):
    settings = TrainSettings.load(path)
    model = ModelConfig.from_dict(settings.model)
    assert settings.stage in ("saliency", "align", "finetune", "full")
    n_layers = {"hf:openai/clip-vit-large-patch14-336": 24}.get(model.vision.backbone)
    if n_layers:  # fusion must act before the feature layer the projector reads
        assert max(model.fusion.layers) < n_layers + model.vision.feature_layer + 1


@pytest.mark.parametrize("path", [p for p in CONFIGS if p.name.startswith("accelerate")], ids=lambda p: p.name)
def test_accelerate_config_parses(path):
    import yaml

    cfg = yaml.safe_load(path.read_text())
    assert cfg["distributed_type"] in ("MULTI_GPU", "FSDP", "DEEPSPEED")
