"""Resumable training checkpoints: trainable weights, optimiser, scheduler, RNG, data position.

Only what training changes is written (the frozen backbones are rebuilt from the config), so a
checkpoint of a LoRA run is a few MB. A checkpoint folder appears complete or not at all.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import numpy as np
import torch

KEEP = 3  # older checkpoints are deleted: a crash costs at most save_every steps


# what wrappers insert into parameter names (FSDP units, activation checkpointing, torch.compile);
# a gathered state dict has none of them
WRAPPER_PREFIXES = ("_fsdp_wrapped_module.", "_checkpoint_wrapped_module.", "_orig_mod.")


def plain_name(name: str) -> str:
    """A parameter's name as in the unwrapped model's state dict."""
    for prefix in WRAPPER_PREFIXES:
        name = name.replace(prefix, "")
    return name


def trainable_state(model, full: dict | None = None) -> dict[str, torch.Tensor]:
    """Trainable parameters plus buffers (batch-norm statistics): what an optimiser step can change.
    `full`: the complete state dict when the caller gathered it (sharded training). Under FSDP the
    model's own parameter names carry its wrappers' prefixes and the gathered keys do not: both are
    compared as plain names, or the LoRA weights would silently go missing from the checkpoint."""
    names = {plain_name(n) for n, p in model.named_parameters() if p.requires_grad}
    params = {plain_name(n) for n, _ in model.named_parameters()}
    full = model.state_dict() if full is None else full
    return {k: v.detach().cpu().contiguous() for k, v in full.items()
            if k in names or (k not in params and not k.startswith(("vision.tower.", "lm.")))}


def save(folder: Path, model, full: dict, opt, sched, state: dict, rank: int, is_main: bool, barrier) -> None:
    from safetensors.torch import save_file

    tmp = folder.with_name(folder.name + ".tmp")
    if is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    barrier()
    torch.save(_rng_state(), tmp / f"rng-{rank}.pt")  # every process has its own generators
    # ... and its own optimiser state: under FSDP each holds the moments of its shard only
    torch.save({"opt": opt.state_dict(), "sched": sched.state_dict()}, tmp / f"optim-{rank}.pt")
    if is_main:
        save_file(trainable_state(model, full), str(tmp / "trainable.safetensors"))
        (tmp / "trainer_state.json").write_text(json.dumps(state, indent=2))
    barrier()
    if is_main:
        shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)
        for old in sorted(folder.parent.glob("step-*"), key=_step)[:-KEEP]:
            shutil.rmtree(old, ignore_errors=True)
    barrier()


def latest(root: Path) -> Path | None:
    done = [p for p in root.glob("step-*") if (p / "trainer_state.json").is_file() and not p.name.endswith(".tmp")]
    return max(done, key=_step) if done else None


def load(folder: Path, model, opt, sched, rank: int) -> dict:
    from safetensors.torch import load_file

    from ..models import renamed

    trained = renamed(load_file(str(folder / "trainable.safetensors")))  # a run from before the head moved
    missing = set(trained) - set(model.state_dict())
    if missing:
        raise ValueError(f"{folder}: checkpoint has weights the model lacks, e.g. {sorted(missing)[:3]}")
    model.load_state_dict(trained, strict=False)
    rng, optim = folder / f"rng-{rank}.pt", folder / f"optim-{rank}.pt"
    if not rng.is_file():
        raise ValueError(f"{folder} was written by fewer processes: no {rng.name}")
    if not optim.is_file():  # written before per-process optimiser files (one process's state)
        optim = folder / "optim.pt"
    optim = torch.load(optim, weights_only=False)
    opt.load_state_dict(optim["opt"])
    sched.load_state_dict(optim["sched"])
    _set_rng_state(torch.load(rng, weights_only=False))
    return json.loads((folder / "trainer_state.json").read_text())


def _step(p: Path) -> int:
    return int(p.name.split("-")[1].split(".")[0])


def _rng_state() -> dict:
    return {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}


def _set_rng_state(s: dict) -> None:
    random.setstate(s["python"])
    np.random.set_state(s["numpy"])
    torch.set_rng_state(s["torch"])
