"""`asemllm train --dry-run`: the config's architectures with random weights, offline.

The tiny config runs end to end here (two steps, one generation, JSON out, nothing downloaded);
the PCCD configs' random twins are checked at their real shapes on the meta device, where nothing
is allocated, so this file stays fast. docs/BENCHMARKS.md has the measured PCCD dry runs.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
KEYS = {"parameters", "trainable", "peak_memory_mb", "step_seconds", "device", "dtype", "config"}


def test_tiny_dry_run_reports_json_and_downloads_nothing(shared_data, tmp_path):
    from asemllm.config import tiny_config

    config = tmp_path / "tiny.json"
    config.write_text(json.dumps({"model": tiny_config().to_dict(), "stage": "finetune", "batch_size": 3,
                                  "mixed_precision": "bf16"}))
    hub = tmp_path / "hf"  # an empty Hugging Face home: a download or a cache lookup would show here
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HOME": str(hub), "ASEMLLM_SHARED_DATA": str(shared_data),
           "OMP_NUM_THREADS": "1"}
    work = tmp_path / "work"  # the run's working directory: a run folder (runs/train) would appear here
    work.mkdir()
    res = subprocess.run([sys.executable, "-m", "asemllm.cli", "train", "--config", str(config), "--dry-run",
                          "--json", "--batch-size", "2"], capture_output=True, text=True, env=env, timeout=300, cwd=work)
    assert res.returncode == 0, res.stderr[-3000:]
    r = json.loads(res.stdout)
    assert KEYS <= set(r) and r["config"] == str(config)
    assert 0 < r["trainable"] < r["parameters"] and r["stage"] == "finetune"  # finetune added LoRA
    assert r["batch_size"] == 2 and len(r["losses"]) == 2 and all(map(torch.isfinite, torch.tensor(r["losses"])))
    assert r["step_seconds"] > 0 and r["peak_memory_mb"] > 0 and r["new_tokens"] == 4
    assert r["photos"] == str(shared_data / "photos") and r["vision"] == "tiny-vit" and r["lm"] == "tiny-lm"
    assert r["mixed_precision_configured"] == "bf16" and r["mixed_precision"] in ("bf16", "no")
    assert not hub.exists() or not any(hub.rglob("*"))
    assert not any(work.iterdir())  # a dry run writes nothing


def test_pccd_configs_map_to_twins_and_unknown_ids_are_named(tmp_path):
    from asemllm.backbones.random_init import random_twin
    from asemllm.training.dry_run import twin_settings
    from asemllm.training.settings import TrainSettings

    one = twin_settings(TrainSettings.load(REPO / "configs" / "pccd-1gpu.yaml")).model
    assert (one["vision"]["backbone"], one["lm"]["backbone"]) == ("random:clip-vit-large-patch14-336",
                                                                  "random:qwen2.5-1.5b-instruct")
    multi = twin_settings(TrainSettings.load(REPO / "configs" / "pccd-multigpu.yaml")).model
    assert multi["lm"]["backbone"] == "random:qwen2.5-7b-instruct"
    assert random_twin("tiny-lm") == "tiny-lm" and random_twin("dinov2-s") == "random:dinov2-s"
    with pytest.raises(ValueError, match="hf:someone/unknown-7b"):
        random_twin("hf:someone/unknown-7b")


def test_cli_dry_run_error_names_the_backbone(tmp_path, capsys):
    from asemllm.cli import main

    config = tmp_path / "odd.yaml"
    config.write_text('model: {lm: {backbone: "hf:someone/unknown-7b"}}\n')
    assert main(["train", "--config", str(config), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "hf:someone/unknown-7b" in err and str(config) in err and len(err.strip().splitlines()) == 1


def _meta(build):
    with torch.device("meta"):
        return build()


def test_clip_l336_twin_has_llava_tower_shapes():
    from asemllm.backbones.random_init import clip_vit_l14_336
    from asemllm.model.ias_vit import encoder_layers

    tower = _meta(clip_vit_l14_336)
    emb = tower.embeddings
    assert emb.patch_embedding.weight.shape == (1024, 3, 14, 14)
    assert emb.position_embedding.weight.shape == (577, 1024)  # (336 / 14)^2 patches + the class token
    layers = encoder_layers(tower)
    assert len(layers) == 24 and layers[0].mlp.fc1.weight.shape == (4096, 1024)
    assert tower.config.num_attention_heads == 16
    assert sum(p.numel() for p in tower.parameters()) == 303_507_456


@pytest.mark.parametrize("size,hidden,inter,heads,kv,vocab,tied,total", [
    ("1.5b", 1536, 8960, 12, 2, 151936, True, 1_543_714_304),
    ("7b", 3584, 18944, 28, 4, 152064, False, 7_615_616_512),
])
def test_qwen25_twins_have_the_published_shapes(size, hidden, inter, heads, kv, vocab, tied, total):
    from asemllm.backbones.random_init import qwen25

    lm = _meta(lambda: qwen25(size))
    head_dim = hidden // heads
    attn, mlp = lm.model.layers[0].self_attn, lm.model.layers[0].mlp
    assert len(lm.model.layers) == 28 and lm.model.embed_tokens.weight.shape == (vocab, hidden)
    assert attn.q_proj.weight.shape == (hidden, hidden) and attn.k_proj.weight.shape == (kv * head_dim, hidden)
    assert attn.q_proj.bias is not None  # Qwen2 has q/k/v biases
    assert mlp.gate_proj.weight.shape == (inter, hidden)
    assert (lm.lm_head.weight is lm.model.embed_tokens.weight) == tied
    assert sum(p.numel() for p in lm.parameters()) == total  # 1.54B / 7.62B, as published


def test_a_model_too_big_for_this_machine_is_refused_before_allocating():
    from asemllm.training.dry_run import _available_mb, check_fits
    from asemllm.training.settings import TrainSettings

    huge = TrainSettings.from_dict({"model": {"vision": {"backbone": "random:clip-vit-large-patch14-336"},
                                              "lm": {"backbone": "random:qwen2.5-7b-instruct"}}})
    available = _available_mb("cpu")[0]
    if available > 4 * 7.92e9 / 2**20:
        pytest.skip(f"this machine has {available / 1024:.0f} GB available: the 7B twin fits")
    with pytest.raises(ValueError, match=r"pccd-multigpu\.yaml: the backbones' 7\.92B parameters need 29\.5 GB"):
        check_fits(huge, "cpu", "pccd-multigpu.yaml")


def test_memory_cap_turns_an_allocation_too_large_into_a_named_error():
    from asemllm.training.dry_run import _available_mb, memory_cap

    too_much = int((_available_mb("cpu")[0] + 1024) * 2**20)
    with pytest.raises(ValueError, match="tiny.yaml at batch 64: out of memory"):
        with memory_cap("cpu", "tiny.yaml at batch 64"):
            torch.empty(too_much, dtype=torch.uint8)
    torch.empty(2**20, dtype=torch.uint8)  # the cap is lifted again
