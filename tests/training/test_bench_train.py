"""`asemllm bench train` on the tiny model with every optional part, on CPU: it times real
optimiser steps of the training code and says what it measured. Speed numbers here mean nothing."""

import json

import pytest
import torch


def _config(tmp_path):
    """A training config whose model is tiny but has the critic's parts (aux head and token)."""
    from asemllm.config import tiny_config

    model = tiny_config().to_dict()
    model["vision"]["detail_layer"], model["projector"]["saliency_cells"] = 0, True
    model.update(aux_targets=4, aux_token=True)
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps({"model": model, "stage": "finetune", "lr": 1e-3}))
    return path


def test_bench_train_times_training_steps_on_cpu(tmp_path, capsys):
    from asemllm.cli import main

    assert main(["bench", "train", "--config", str(_config(tmp_path)), "--device", "cpu",
                 "--batch-size", "2", "--steps", "2", "--threads", "1", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["benchmark"] == "train" and r["stage"] == "finetune" and r["batch"] == 2
    assert r["s_per_step"] > 0 and r["samples_per_s"] == pytest.approx(2 / r["s_per_step"], rel=0.01)
    assert r["peak_memory_mb"] > 0 and r["device"].startswith("cpu")
    # the finetune stage trains fusion, projector, aux head/token and LoRA: a small part of the whole
    assert 0 < r["trainable_params"] < r["total_params"]
    assert r["image_tokens"] == 17 and 55 <= r["answer_tokens"] <= 65  # (8 patches / 2)^2 cells + the aux token
    assert all(map(torch.isfinite, torch.tensor([r["loss_first"], r["loss_last"]])))
    assert r["vision"] == "tiny-vit" and r["backbones"] == "real"


def test_bench_errors_name_the_values(tmp_path, capsys):
    from asemllm.cli import main

    assert main(["bench", "train", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "nope.yaml" in capsys.readouterr().err
    assert main(["bench", "train", "--config", str(_config(tmp_path)), "--steps", "0"]) == 2
    assert "--steps 0" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["bench", "train", "--config", str(_config(tmp_path)), "--device", "cuda"]) == 2
        assert "--device cuda" in capsys.readouterr().err
