"""Put a trained critic into the package: the few-MB weights `asemllm.load()` uses by default.

Only what training changed is stored: fusion, projector, LoRA (and the auxiliary head and token,
when the model has them); the large matrices as int8 with a scale per row, the rest in fp16
(int8 leaves the critic's texts as they were, 4-bit does not: docs/DESIGN_NOTES.md, "Storage: int8
and low rank"). The low-rank factors of a compacted critic (`asemllm critic compact`) stay factors.
The IASM is left out when it is still the bundled NUS-trained one (the config says
`weights: bundled`, and the build loads it from there); a retrained IASM is kept.

A critic becomes the default only when it has passed its measurement: `measured.json` (written by
`asemllm critic eval --out`) must show at least GOALS on the photos it never saw; `force` skips
the check (for experiments, never for a release).
"""

from __future__ import annotations

import json
from pathlib import Path

GOALS = {"claim agreement": 0.9, "controlled edits reported": 0.9}


def check_measured(path: str | Path) -> None:
    """ValueError naming the shortfall unless `path` (critic eval output) meets GOALS."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: measure the critic first "
                                f"(asemllm critic eval --model ... --out {path})")
    r = json.loads(path.read_text())
    got = {"claim agreement": r["claim_agreement"]["agree"] or 0.0,
           "controlled edits reported": r["controlled_edits"]["share"] or 0.0}
    short = [f"{k} {got[k]:.1%} < {GOALS[k]:.0%}" for k in GOALS if got[k] < GOALS[k]]
    if short:
        raise ValueError(f"{path}: the critic fails its measurement ({'; '.join(short)}); not bundled")


def bundle(model_dir: str | Path, out: str | Path | None = None, measured: str | Path | None = None,
           force: bool = False) -> str:
    """Copy a trained critic into the package (default `out`) once `measured` (default:
    `measured.json` beside the model folder) shows it meets GOALS."""
    import torch
    from safetensors.torch import load_file, save_file

    from ..models import CONFIG, WEIGHTS, from_int8, to_int8
    from .api import BUNDLED

    model_dir, out = Path(model_dir), Path(out or BUNDLED)
    if not force:
        check_measured(measured or model_dir.parent / "measured.json")
    for name in (CONFIG, WEIGHTS):
        if not (model_dir / name).is_file():
            raise FileNotFoundError(f"{model_dir / name} not found: not a saved asemllm model folder")
    config = json.loads((model_dir / CONFIG).read_text())
    state = from_int8(load_file(model_dir / WEIGHTS))  # a bundled critic can be bundled again
    if config["iasm"].get("weights") == "bundled" and _same_as_bundled_iasm(state):
        state = {k: v for k, v in state.items() if not k.startswith("iasm.")}
    state = to_int8({k: v.to(torch.float16) if v.is_floating_point() else v for k, v in state.items()})
    out.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in state.items()}, out / WEIGHTS, metadata={"format": "pt"})
    (out / CONFIG).write_text(json.dumps(config, indent=2) + "\n")
    size = (out / WEIGHTS).stat().st_size / 2 ** 20
    return f"{out}: {len(state)} tensors, {size:.1f} MB"


def _same_as_bundled_iasm(state: dict) -> bool:
    """The checkpoint's IASM equals the shipped one (to fp16 rounding): it was frozen in training."""
    import torch
    from safetensors.torch import load_file

    from ..models import BUNDLED_IASM

    shipped = load_file(Path(__file__).resolve().parents[1] / BUNDLED_IASM)
    mine = {k[len("iasm."):]: v for k, v in state.items() if k.startswith("iasm.")}
    common = set(shipped) & set(mine)
    return bool(common) and all(torch.allclose(mine[k].float(), shipped[k].float(), atol=1e-3) for k in common)
