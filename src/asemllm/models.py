"""Build, save and load ASE-MLLM models: the one place that turns a config or a folder into a model.

`build_model(config)` resolves the backbones and attaches the new modules; a config with
`aux_targets` also gets the critic's claim head (asemllm.critic.claim_head), attached to the
captioner through its one seam (`AestheticCaptioner.head`). `save_model` / `load_model` use one
folder: `config.json` + `model.safetensors`.

By default the frozen pretrained backbones (the ViT tower and the LM's base weights) are not
written: they are rebuilt from the backbone names in the config, so a checkpoint of the new parts
(IASM, fusion, projector, LoRA, head) is a few MB. Random "tiny-*" backbones are always written,
since nothing else could rebuild them; `include_backbones=True` writes everything (full fine-tunes).
A folder may hold its large matrices as int8 with per-row scales (to_int8, what `asemllm critic
bundle` writes) and some as two low-rank factors (`asemllm critic compact`); loading widens them
back to float32 and multiplies the factors out, so the model computes as a dense one. Folders
that name the claim head's parts as parts of the captioner (keys `aux_head.*` ...) load as well.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from .config import ModelConfig

def build_vision(config: ModelConfig):
    """-> (IASM, IAS-ViT): the image side alone (benchmarks and saliency training need no LM)."""
    from .backbones import load_iasm_encoder, load_vision
    from .model.ias_vit import IASViT
    from .model.iasm import IASM

    tower, mean, std, size = load_vision(config.vision.backbone, config.vision.image_size)
    # the config records what the tower needs, so a saved model never depends on defaults
    config.vision.mean, config.vision.std, config.vision.image_size = tuple(mean), tuple(std), size
    # trained IASM weights include the CNN's: its ImageNet weights would only be overwritten
    encoder, channels = load_iasm_encoder(config.iasm.backbone, config.iasm.image_size,
                                          pretrained=not config.iasm.weights)
    readout = config.iasm.readout
    if readout is not None and config.iasm.readout_backbone != config.vision.backbone:
        raise ValueError(f"the IASM reads {config.iasm.readout_backbone!r} features but the ViT is "
                         f"{config.vision.backbone!r}: it must read the captioner's own tower")
    iasm = IASM(config.iasm, encoder, channels, vit_dim=tower.config.hidden_size if readout is not None else None)
    if config.iasm.weights:
        load_iasm_weights(iasm, config.iasm.weights)
    return iasm, IASViT(config.vision, config.fusion, tower, kv_dim=iasm.token_dim, readout=readout)


def build_iasm(config, pretrained_encoder: bool = True):
    """The IASM alone for an IASMConfig (its weights not loaded): with a readout, the readout
    backbone's first blocks are attached (`IASM.attach_vit`) at the captioner's input size."""
    from .backbones import load_iasm_encoder, load_vision
    from .config import VisionConfig
    from .model.ias_vit import ViTPrefix
    from .model.iasm import IASM

    encoder, channels = load_iasm_encoder(config.backbone, config.image_size, pretrained=pretrained_encoder)
    if config.readout is None:
        return IASM(config, encoder, channels)
    tower, mean, std, size = load_vision(config.readout_backbone, VisionConfig().image_size)
    iasm = IASM(config, encoder, channels, vit_dim=tower.config.hidden_size)
    iasm.attach_vit(ViTPrefix(tower, config.readout, mean, std, size))
    return iasm


BUNDLED_IASM = "weights/iasm-nus.safetensors"
# Earlier bundled IASMs, still shipped: a saved model whose config names "bundled" weights of an
# earlier architecture (the bundled critic's: EfficientNet alone, no ViT readout) gets the weights
# it was trained with, so it computes exactly what it did.
BUNDLED_IASM_EARLIER = ("weights/iasm-nus-cnn.safetensors",)


def _recorded_config(path):
    import json

    from safetensors import safe_open

    from .config import IASMConfig

    with safe_open(str(path), "pt") as f:
        return IASMConfig(**json.loads(f.metadata()["config"]))


def _architecture(config) -> dict:
    return {k: v for k, v in asdict(config).items() if k != "weights"}


def _iasm_weights_path(weights: str, config=None):
    """The weights file: a path as given; "bundled" is the shipped IASM, or with `config` the shipped
    one of that architecture (the current one when none fits, so the mismatch is reported)."""
    from importlib.resources import files
    from pathlib import Path

    if weights != "bundled":
        path = Path(weights)
    else:
        shipped = [Path(str(files("asemllm") / name)) for name in (BUNDLED_IASM, *BUNDLED_IASM_EARLIER)]
        path = shipped[0]
        if config is not None:
            path = next((p for p in shipped if p.is_file() and
                         _architecture(_recorded_config(p)) == _architecture(config)), path)
    if not path.is_file():
        raise FileNotFoundError(f"IASM weights {path} not found (iasm.weights={weights!r})")
    return path


def iasm_weights_config(weights: str):
    """The IASMConfig that trained IASM weights were made with (recorded in the file)."""
    from dataclasses import replace

    return replace(_recorded_config(_iasm_weights_path(weights)), weights=weights)


def load_iasm_weights(iasm, weights: str) -> None:
    """Load trained IASM weights ("bundled" or a path); their recorded config must match."""
    from safetensors.torch import load_file

    path = _iasm_weights_path(weights, iasm.config)
    trained, mine = _architecture(_recorded_config(path)), _architecture(iasm.config)
    if trained != mine:
        raise ValueError(f"IASM weights {weights!r} were trained for {trained}, not {mine}")
    state = load_file(str(path))
    iasm.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})


def build_model(config: ModelConfig):
    """The captioner `config` describes, its new modules freshly initialised (eval mode)."""
    from .backbones import load_lm
    from .model.captioner import AestheticCaptioner
    from .model.language_model import add_lora

    for need in ("aux_token", "findings"):
        if getattr(config, need) and not config.aux_targets:
            raise ValueError(f"{need} needs an auxiliary head (the claim head): set aux_targets > 0")
    iasm, vision = build_vision(config)
    lm, tokenizer = load_lm(config.lm.backbone, config.lm.image_token)
    if config.lm.lora is not None:
        add_lora(lm, config.lm.lora)
    model = AestheticCaptioner(config, iasm, vision, lm, tokenizer)
    if config.aux_targets:
        from .critic.claim_head import ClaimHead

        model.head = ClaimHead(config, model.projector.num_tokens(model.vision.grid), model.lm_width)
    return model.eval()


def load_model(spec: str):
    """A saved model folder; "default" (the offline backbones, untrained fusion and projector: the
    zero-shot row); or a ModelConfig JSON file (e.g. an `hf:` vision tower + LM pair)."""
    if spec == "default":
        return build_model(ModelConfig())
    if str(spec).endswith(".json"):
        return build_model(ModelConfig.load(spec))
    return _load_folder(Path(spec))


CONFIG, WEIGHTS = "config.json", "model.safetensors"
INT8_SCALE = ".int8_scale"  # key suffix: the per-row scales of a matrix stored as int8
LOW_RANK = (".low_rank_a", ".low_rank_b")  # key suffixes: a matrix stored as A (out, r) @ B (r, in)


def _backbone_prefixes(config) -> tuple[str, ...]:
    out = []
    if not config.vision.backbone.startswith("tiny"):
        out.append("vision.tower.")
    if not config.lm.backbone.startswith("tiny"):
        out.append("lm.")
    return tuple(out)


def _is_backbone_key(key: str, prefixes: tuple[str, ...]) -> bool:
    return key.startswith(prefixes) and "lora_" not in key


def _aliases(state: dict) -> set[str]:
    """Keys whose tensor is shared with an earlier key (tied embeddings): stored once."""
    seen, dup = set(), set()
    for k, v in state.items():
        ident = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape))
        if ident in seen:
            dup.add(k)
        seen.add(ident)
    return dup


def save_model(model, path, include_backbones: bool = False, state: dict | None = None) -> None:
    """Write `model` to the folder `path`: config.json + model.safetensors (see the module docstring).
    `state`: its full state dict when the caller gathered it (sharded training: the model's own
    state_dict would all-gather from this process alone and wait for the others forever)."""
    from safetensors.torch import save_file

    from ._version import __version__

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = model.state_dict() if state is None else state
    prefixes = () if include_backbones else _backbone_prefixes(model.config)
    drop = _aliases(state)
    tensors = {k: v.detach().contiguous() for k, v in state.items()
               if k not in drop and not _is_backbone_key(k, prefixes)}
    tensors = _as_loaded_factors(tensors, getattr(model, "low_rank", {}))
    save_file(tensors, path / WEIGHTS, metadata={"format": "pt", "asemllm": __version__})
    model.config.save(path / CONFIG)


def _as_loaded_factors(tensors: dict, factors: dict) -> dict:
    """A matrix loaded from low-rank factors and unchanged since is saved as those factors again,
    so a compacted critic stays compact through a refit of its head (`critic head --geometry`)."""
    import torch

    a, b = LOW_RANK
    for k, (fa, fb) in factors.items():
        if k in tensors and torch.equal(tensors[k], fa.float() @ fb.float()):
            del tensors[k]
            tensors[k + a], tensors[k + b] = fa.contiguous(), fb.contiguous()
    return tensors


def _check_stats_width(state: dict, path: Path) -> None:
    """A head branch trained on another version's photo statistics cannot read this one's."""
    from .critic.photo_stats import STATS_DIM

    weight = state.get("head.stats.0.weight")
    if weight is not None and weight.shape[1] != STATS_DIM:
        raise ValueError(f"{path}: its head was trained on {weight.shape[1]} photo statistics, this asemllm "
                         f"computes {STATS_DIM}; refit it: asemllm critic head --model {path} --stats")


def to_int8(state: dict, min_size: int = 4096) -> dict:
    """Each float matrix of at least `min_size` numbers as int8 with one float32 scale per row
    (symmetric: the row's largest |weight| -> 127); half the bytes of fp16. The rest as given.
    Why rows: a row is one output feature, so each feature keeps its own range."""
    import torch

    out = {}
    for k, v in state.items():
        if not (v.is_floating_point() and v.ndim == 2 and v.numel() >= min_size):
            out[k] = v
            continue
        scale = v.float().abs().amax(dim=1, keepdim=True).clamp_min(1e-12) / 127  # (rows, 1)
        out[k] = (v.float() / scale).round().clamp(-127, 127).to(torch.int8)
        out[k + INT8_SCALE] = scale
    return out


def from_int8(state: dict) -> dict:
    """Undo to_int8: float32 matrices (weight * its row's scale); other tensors unchanged."""
    stored = {k[: -len(INT8_SCALE)] for k in state if k.endswith(INT8_SCALE)}
    return {k: v.float() * state[k + INT8_SCALE] if k in stored else v
            for k, v in state.items() if not k.endswith(INT8_SCALE)}


def from_low_rank(state: dict) -> dict:
    """Matrices stored as two factors -> the dense matrix A @ B; other tensors unchanged."""
    a, b = LOW_RANK
    stored = [k[: -len(a)] for k in state if k.endswith(a)]
    out = {k: v for k, v in state.items() if not k.endswith(LOW_RANK)}
    for k in stored:
        if k + b not in state:
            raise ValueError(f"{k}: stored as low-rank factors but {k + b} is missing")
        out[k] = state[k + a].float() @ state[k + b].float()
    return out


# The claim head's parts named as parts of the captioner (legacy folders, the bundled critic among
# them: docs/DESIGN_NOTES.md, "The package") -> their names under the head.
LEGACY_KEYS = {"aux_head.": "head.tokens.", "aux_stats_head.": "head.stats.", "aux_native_head.": "head.native.",
               "aux_geometry_head.": "head.geometry.", "aux_embed.": "head.embed."}


def renamed(state: dict) -> dict:
    """A saved state with the claim head's legacy key names (LEGACY_KEYS) -> the current ones; others
    unchanged."""
    out = {}
    for k, v in state.items():
        old = next((p for p in LEGACY_KEYS if k.startswith(p)), None)
        out[LEGACY_KEYS[old] + k[len(old):] if old else k] = v
    return out


def _load_folder(path: Path):
    from safetensors.torch import load_file

    for name in (CONFIG, WEIGHTS):
        if not (path / name).is_file():
            raise FileNotFoundError(f"{path / name} not found: not a saved asemllm model folder")
    model = build_model(ModelConfig.load(path / CONFIG))
    stored = renamed(from_int8(load_file(path / WEIGHTS)))
    state = from_low_rank(stored)
    _check_stats_width(state, path)
    missing, unexpected = model.load_state_dict(state, strict=False)
    prefixes, aliases = _backbone_prefixes(model.config), _aliases(model.state_dict())
    if model.config.iasm.weights and not any(k.startswith("iasm.") for k in state):
        prefixes += ("iasm.",)  # saved without an IASM (`asemllm critic bundle`): the config's weights stand
    missing = [k for k in missing if k not in aliases and not _is_backbone_key(k, prefixes)]
    if missing or unexpected:
        raise ValueError(f"{path / WEIGHTS} does not fit {path / CONFIG}: "
                         f"missing {missing[:5]} ({len(missing)}), unexpected {unexpected[:5]} ({len(unexpected)})")
    a, b = LOW_RANK
    model.low_rank = {k[: -len(a)]: (stored[k], stored[k[: -len(a)] + b]) for k in stored if k.endswith(a)}
    return model.eval()
