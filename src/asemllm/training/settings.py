"""Run settings for `asemllm train --config FILE` (JSON or YAML); every field has a default."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


@dataclass
class DataSettings:
    train: str = ""  # JSONL of CritiqueRecords (`asemllm data convert` writes them)
    image_root: str = ""  # relative image paths are resolved against this folder
    aspects: list[str] = field(default_factory=list)  # empty: every aspect the records have


@dataclass
class TrainSettings:
    out: str = "runs/train"
    model: dict = field(default_factory=dict)  # a ModelConfig as a dict; empty: the default model
    init_from: str = ""  # or start from a saved model folder (its config wins over `model`)
    data: DataSettings = field(default_factory=DataSettings)
    stage: str = "finetune"  # saliency | align | finetune | full (see asemllm.stages)
    batch_size: int = 4  # per process
    grad_accum: int = 1
    optimizer: str = "adamw"  # adamw | sgd (momentum 0.9)
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup_steps: int = 0
    max_steps: int = 1000  # optimiser steps (the learning-rate schedule spans these)
    # stop this session after N more steps, checkpoint and exit (time-boxed or preemptible jobs);
    # the next run resumes; 0: run to max_steps
    session_steps: int = 0
    save_every: int = 100
    log_every: int = 10
    mixed_precision: str = "no"  # no | bf16 | fp16 (fp16 needs a GPU)
    seed: int = 0
    max_grad_norm: float = 1.0

    @classmethod
    def load(cls, path: str | Path) -> "TrainSettings":
        text = Path(path).read_text()
        if str(path).endswith((".yaml", ".yml")):
            import yaml

            raw = yaml.safe_load(text)
        else:
            raw = json.loads(text)
        return cls.from_dict(raw or {})

    @classmethod
    def from_dict(cls, raw: dict) -> "TrainSettings":
        known = {f.name for f in fields(cls)}
        unknown = set(raw) - known
        if unknown:
            raise ValueError(f"unknown training settings {sorted(unknown)}; known: {sorted(known)}")
        raw = dict(raw)
        data = raw.pop("data", {}) or {}
        bad = set(data) - {f.name for f in fields(DataSettings)}
        if bad:
            raise ValueError(f"unknown data settings {sorted(bad)}")
        return cls(data=DataSettings(**data), **raw)

    def to_dict(self) -> dict:
        return asdict(self)
