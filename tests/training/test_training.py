"""Training loop on the tiny model and real photos: exact resume, and 2 processes == 1 with twice the batch.

Plumbing tests: the captions are short true descriptions of real photos, written here; no number
from these runs is a result.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from asemllm.data.records import CritiqueRecord, write_jsonl
from asemllm.training.settings import TrainSettings
from asemllm.models import load_model

# equal-length answers: per-process mean losses then average to the global mean exactly
CAPTIONS = {
    "mate/LadyBird.jpg": "a red ladybird on a leaf",
    "mate/YellowFlower.jpg": "a yellow flower close up",
    "misc/grace_hopper.jpg": "a woman in navy uniform.",
    "mate/Storm.jpg": "dark storm clouds above.",
}
assert len({len(c) for c in CAPTIONS.values()}) == 1


def _data(shared_data, tmp_path) -> Path:
    records = [CritiqueRecord(id=k, image=str(shared_data / "photos" / k), split="train",
                              critiques={"overall": [v], "composition": [v.upper()]})
               for k, v in CAPTIONS.items()]
    path = tmp_path / "train.jsonl"
    write_jsonl(records, path)
    return path


def _settings(data: Path, out: Path, **kw) -> TrainSettings:
    from asemllm.config import tiny_config

    return TrainSettings.from_dict({"out": str(out), "model": tiny_config().to_dict(), "stage": "finetune",
                                   "data": {"train": str(data)}, "batch_size": 4, "lr": 3e-3,
                                   "max_steps": 6, "save_every": 2, "log_every": 1, **kw})


def _losses(out: Path) -> list[float]:
    return [json.loads(line)["loss"] for line in (out / "log.jsonl").read_text().splitlines()]


def test_settings_reject_unknown_keys():
    with pytest.raises(ValueError, match="bogus"):
        TrainSettings.from_dict({"bogus": 1})


@pytest.mark.slow
def test_resumed_run_repeats_the_uninterrupted_loss_curve(shared_data, tmp_path):
    from asemllm.training.loop import train

    data = _data(shared_data, tmp_path)
    train(_settings(data, tmp_path / "a"), log=lambda *_: None)
    # a session that stops after step 3 (between two save_every checkpoints), then a resumed one
    train(_settings(data, tmp_path / "b", session_steps=3), log=lambda *_: None)
    assert (tmp_path / "b" / "checkpoints" / "step-3").is_dir() and not (tmp_path / "b" / "model").exists()
    train(_settings(data, tmp_path / "b"), log=lambda *_: None)
    assert _losses(tmp_path / "a") == pytest.approx(_losses(tmp_path / "b"), abs=0, rel=0)
    a = load_model(tmp_path / "a" / "model")
    b = load_model(tmp_path / "b" / "model")
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
    assert a.config.lm.lora is not None  # the finetune stage added LoRA, and the saved model keeps it


@pytest.mark.slow
def test_two_processes_equal_one_with_the_doubled_batch(shared_data, tmp_path):
    """2 CPU processes (gloo, launched by torchrun) with batch 2 == 1 process with batch 4."""
    from asemllm.training.loop import train

    data = _data(shared_data, tmp_path)
    # SGD: its update is linear in the gradient, so equal gradients give equal weights (Adam
    # divides each gradient by its own size and turns float noise on near-zero ones into lr)
    common = dict(max_steps=4, optimizer="sgd", lr=0.5)
    train(_settings(data, tmp_path / "one", batch_size=4, **common), log=lambda *_: None)
    cfg = tmp_path / "two.json"
    cfg.write_text(json.dumps(_settings(data, tmp_path / "two", batch_size=2, **common).to_dict()))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "asemllm.cli", "train", "--config", str(cfg)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "2 process(es)" in res.stdout
    last = max((tmp_path / "two" / "checkpoints").glob("step-*"))
    assert {p.name for p in last.glob("*.pt")} == {"rng-0.pt", "rng-1.pt", "optim-0.pt", "optim-1.pt"}
    one = load_model(tmp_path / "one" / "model").state_dict()
    two = load_model(tmp_path / "two" / "model").state_dict()
    moved = 0
    for k in one:
        torch.testing.assert_close(one[k], two[k], rtol=1e-4, atol=1e-6, msg=lambda m: f"{k}: {m}")
        moved += "lora_B" in k and one[k].abs().sum().item() > 0
    assert moved > 0  # LoRA really trained (B starts at zero)
    assert _losses(tmp_path / "one") == pytest.approx(_losses(tmp_path / "two"), rel=1e-4)


@pytest.mark.slow
def test_cli_train_then_eval_end_to_end(shared_data, tmp_path, capsys):
    """`asemllm train` then `asemllm eval` on the trained tiny model (plumbing: the photos it
    trained on stand in for a test split, so its scores mean nothing)."""
    from asemllm.cli import main
    from asemllm.data.records import read_jsonl

    data = _data(shared_data, tmp_path)
    cfg = tmp_path / "run.json"
    cfg.write_text(json.dumps(_settings(data, tmp_path / "run", max_steps=4).to_dict()))
    assert main(["train", "--config", str(cfg)]) == 0
    test = tmp_path / "test.jsonl"
    write_jsonl([r.__class__(**{**r.__dict__, "split": "test"}) for r in read_jsonl(data)], test)
    capsys.readouterr()
    assert main(["eval", "--model", str(tmp_path / "run" / "model"), "--data", str(test),
                 "--split", "test", "--out", str(tmp_path / "eval"), "--max-new-tokens", "8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    corpus = result["results"]["iasm"]["corpus"]
    assert {"BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D"} <= set(corpus)
    assert result["jobs"] == 8 and result["model_config"]["lm"]["lora"]["r"] == 8


def test_auxiliary_targets_train_and_are_logged(shared_data, tmp_path):
    """Records carrying meta.targets train the auxiliary head beside the LM; its loss is logged."""
    from asemllm.config import tiny_config
    from asemllm.training.loop import train

    records = [CritiqueRecord(id=k, image=str(shared_data / "photos" / k), split="train",
                              critiques={"overall": [v]}, meta={"targets": [float(i % 2), None]})
               for i, (k, v) in enumerate(CAPTIONS.items())]
    write_jsonl(records, tmp_path / "train.jsonl")
    model = {**tiny_config().to_dict(), "aux_targets": 2}
    train(_settings(tmp_path / "train.jsonl", tmp_path / "run", model=model), log=lambda *a: None)
    lines = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()]
    aux = [line["aux_loss"] for line in lines]
    assert len(aux) == 6 and all(0 < a < line["loss"] for a, line in zip(aux, lines))
    assert aux[-1] < aux[0]  # the head learns which photos are target 1


def test_findings_model_trains_on_the_claims_its_texts_state(shared_data, tmp_path):
    """A model with findings: true reads each record's meta.findings[aspect] in its prompt; a
    record without them is refused by name."""
    from asemllm.config import tiny_config
    from asemllm.training.loop import train

    def records(with_findings):
        return [CritiqueRecord(id=k, image=str(shared_data / "photos" / k), split="train", critiques={"focus": [v]},
                               meta={"targets": [1.0, 0.0]} | ({"findings": {"focus": ["a"]}} if with_findings else {}))
                for k, v in CAPTIONS.items()]

    model = {**tiny_config().to_dict(), "aux_targets": 2, "findings": True}
    write_jsonl(records(True), tmp_path / "train.jsonl")
    train(_settings(tmp_path / "train.jsonl", tmp_path / "run", model=model), log=lambda *a: None)
    assert len((tmp_path / "run" / "log.jsonl").read_text().splitlines()) == 6
    write_jsonl(records(False), tmp_path / "bare.jsonl")
    with pytest.raises(ValueError, match="no meta\\['findings'\\]"):
        train(_settings(tmp_path / "bare.jsonl", tmp_path / "bare", model=model), log=lambda *a: None)
