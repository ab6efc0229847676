"""Sharded training resumes exactly: 2 CPU processes (gloo) under FSDP, 6 steps in one go vs 3,
stopped, and 3 more from the checkpoint, give the same loss log and the same trained weights.

The worker (fsdp_resume.py beside this file) wraps the tiny model as accelerate's FSDP1 prepare
does and drives the loop's pieces and `asemllm.training.checkpoints`; accelerate itself runs FSDP
on GPUs only (tests/test_cuda.py has that test, for two GPUs). Plumbing: the captions are short
true descriptions of real photos, written here; no number from these runs is a result.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from asemllm.data.records import CritiqueRecord, write_jsonl

WORKER = Path(__file__).with_name("fsdp_resume.py")
CAPTIONS = {
    "mate/LadyBird.jpg": "a red ladybird on a leaf",
    "mate/YellowFlower.jpg": "a yellow flower close up",
    "misc/grace_hopper.jpg": "a woman in navy uniform.",
    "mate/Storm.jpg": "dark storm clouds above.",
}


def _run(shared_data, tmp_path, name: str, **kw) -> Path:
    """One launch of the worker on 2 processes -> the run folder."""
    from asemllm.config import tiny_config
    from asemllm.training.settings import TrainSettings

    data = tmp_path / "train.jsonl"
    if not data.is_file():
        write_jsonl([CritiqueRecord(id=k, image=str(shared_data / "photos" / k), split="train",
                                    critiques={"overall": [v], "composition": [v.upper()]})
                     for k, v in CAPTIONS.items()], data)
    out = tmp_path / name
    config = tmp_path / f"{name}.json"
    settings = {"out": str(out), "model": tiny_config().to_dict(), "stage": "finetune", "data": {"train": str(data)},
                "batch_size": 2, "lr": 3e-3, "max_steps": 6, "save_every": 2, **kw}
    config.write_text(json.dumps(TrainSettings.from_dict(settings).to_dict()))
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(WORKER), str(config)],
                         capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert res.returncode == 0, res.stderr[-3000:]
    return out


def _log(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_fsdp_run_resumed_from_its_checkpoint_ends_as_the_uninterrupted_one(shared_data, tmp_path):
    from safetensors.torch import load_file

    whole = _run(shared_data, tmp_path, "whole")
    _run(shared_data, tmp_path, "parts", session_steps=3)
    stopped = tmp_path / "parts" / "checkpoints" / "step-3"
    # each rank wrote the moments of its own shard: different parameters, not one rank's copy
    moments = [torch.load(stopped / f"optim-{r}.pt", weights_only=False)["opt"]["state"] for r in (0, 1)]
    assert moments[0] and moments[1] and set(moments[0]) != set(moments[1])
    saved = load_file(str(stopped / "trainable.safetensors"))
    assert any("lora_B" in k for k in saved) and not any("_fsdp_wrapped_module" in k for k in saved)
    parts = _run(shared_data, tmp_path, "parts")

    assert [r["step"] for r in _log(parts)] == list(range(1, 7))
    assert _log(parts) == _log(whole)  # the same losses, bit for bit
    a, b = load_file(str(whole / "final.safetensors")), load_file(str(parts / "final.safetensors"))
    assert a.keys() == b.keys() and any("lora_B" in k for k in a)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert any("lora_B" in k and a[k].abs().sum() > 0 for k in a)  # LoRA really trained (B starts at 0)


def test_fsdp_units_are_the_backbones_blocks(tiny):
    """accelerate's TRANSFORMER_BASED_WRAP (configs/accelerate-fsdp.yaml) wraps the classes the
    model's _no_split_modules names; the captioner names its backbones' blocks, each one present."""
    from accelerate.utils.dataclasses import get_module_class_from_name

    assert tiny._no_split_modules == ["Dinov2Embeddings", "Dinov2Layer", "LlamaDecoderLayer"]
    assert all(get_module_class_from_name(tiny, name) is not None for name in tiny._no_split_modules)


def test_checkpoint_names_are_plain_under_wrappers():
    from asemllm.training.checkpoints import plain_name

    assert plain_name("lm.model.layers.0._fsdp_wrapped_module.self_attn.q_proj.lora_B.default.weight") == \
        "lm.model.layers.0.self_attn.q_proj.lora_B.default.weight"
    assert plain_name("projector.mlp.0.weight") == "projector.mlp.0.weight"
