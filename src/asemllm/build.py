"""Build an AestheticCaptioner from a ModelConfig: resolve the backbones, attach the new modules."""

from __future__ import annotations

from dataclasses import asdict

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
    iasm = IASM(config.iasm, encoder, channels)
    if config.iasm.weights:
        load_iasm_weights(iasm, config.iasm.weights)
    return iasm, IASViT(config.vision, config.fusion, tower, kv_dim=iasm.token_dim)


BUNDLED_IASM = "weights/iasm-nus.safetensors"


def _iasm_weights_path(weights: str):
    from importlib.resources import files
    from pathlib import Path

    path = Path(str(files("asemllm") / BUNDLED_IASM)) if weights == "bundled" else Path(weights)
    if not path.is_file():
        raise FileNotFoundError(f"IASM weights {path} not found (iasm.weights={weights!r})")
    return path


def iasm_weights_config(weights: str):
    """The IASMConfig that trained IASM weights were made with (recorded in the file)."""
    import json

    from safetensors import safe_open

    from .config import IASMConfig

    with safe_open(str(_iasm_weights_path(weights)), "pt") as f:
        return IASMConfig(**{**json.loads(f.metadata()["config"]), "weights": weights})


def load_iasm_weights(iasm, weights: str) -> None:
    """Load trained IASM weights ("bundled" or a path); their recorded config must match."""
    from safetensors.torch import load_file

    trained = asdict(iasm_weights_config(weights))
    mine = asdict(iasm.config)
    if {k: v for k, v in trained.items() if k != "weights"} != {k: v for k, v in mine.items() if k != "weights"}:
        raise ValueError(f"IASM weights {weights!r} were trained for {trained}, not {mine}")
    state = load_file(str(_iasm_weights_path(weights)))
    iasm.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in state.items()})


def build_model(config: ModelConfig):
    from .backbones import load_lm
    from .model.captioner import AestheticCaptioner
    from .model.language_model import add_lora

    iasm, vision = build_vision(config)
    lm, tokenizer = load_lm(config.lm.backbone, config.lm.image_token)
    if config.lm.lora is not None:
        add_lora(lm, config.lm.lora)
    return AestheticCaptioner(config, iasm, vision, lm, tokenizer).eval()
