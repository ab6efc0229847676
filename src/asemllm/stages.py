"""Training stages: which parts of the captioner train, and a table that says so.

    saliency  IASM only (fixation training)
    align     fusion + projector (+ the claim head, if any; LM and ViT frozen)
    finetune  fusion + projector (+ claim head) + LoRA on the LM (LoRA is added if the model has none)
    full      everything
"""

from __future__ import annotations

from dataclasses import dataclass

STAGES = ("saliency", "align", "finetune", "full")
# the claim head's branches, when the model has one (asemllm.critic.claim_head)
HEAD = ("head.tokens", "head.stats", "head.native", "head.geometry", "head.embed")


@dataclass
class Row:
    module: str
    trainable: int
    total: int


def groups(model) -> dict[str, list]:
    """Named parameter groups, in data-flow order; every parameter is in exactly one."""
    names = ("iasm", "vision.tower", "vision.fusion", "projector", *HEAD, "lm")
    out = {name: [] for name in names} | {"lm.lora": []}
    for name, p in model.named_parameters():
        if name.startswith("lm.") and "lora_" in name:
            out["lm.lora"].append(p)
        else:
            out[next(g for g in names if name.startswith(g + "."))].append(p)
    return out


def set_stage(model, stage: str) -> list[Row]:
    """Freeze/unfreeze for `stage`; returns the trainable-parameter table rows."""
    if stage not in STAGES:
        raise ValueError(f"unknown training stage {stage!r}; choose one of {STAGES}")
    if stage == "finetune" and model.config.lm.lora is None:
        _add_default_lora(model)
    train = {"saliency": {"iasm"}, "align": {"vision.fusion", "projector", *HEAD},
             "finetune": {"vision.fusion", "projector", *HEAD, "lm.lora"}}.get(stage)
    rows = []
    for name, params in groups(model).items():
        on = train is None or name in train
        for p in params:
            p.requires_grad_(on)
        rows.append(Row(name, sum(p.numel() for p in params if on), sum(p.numel() for p in params)))
    return rows


def train_mode(model) -> None:
    """model.train(), but parts with nothing to train stay in eval mode: a frozen IASM's
    batch-norm statistics must not drift, and frozen blocks should not apply dropout."""
    model.train()
    for part in (model.iasm, model.vision.tower, model.lm):
        if not any(p.requires_grad for p in part.parameters()):
            part.eval()


def _add_default_lora(model) -> None:
    from .config import LoRAConfig
    from .model.language_model import add_lora

    model.config.lm.lora = LoRAConfig()
    add_lora(model.lm, model.config.lm.lora)


def format_table(rows: list[Row]) -> str:
    lines = [f"{'module':<16}{'trainable':>14}{'total':>14}  train"]
    for r in rows:
        lines.append(f"{r.module:<16}{r.trainable:>14,}{r.total:>14,}  {'yes' if r.trainable else 'no'}")
    t, n = sum(r.trainable for r in rows), sum(r.total for r in rows)
    lines.append(f"{'all':<16}{t:>14,}{n:>14,}  {100 * t / max(n, 1):.2f}%")
    return "\n".join(lines)
