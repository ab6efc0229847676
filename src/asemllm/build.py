"""Build an AestheticCaptioner from a ModelConfig: resolve the backbones, attach the new modules."""

from __future__ import annotations

from .config import ModelConfig


def build_vision(config: ModelConfig):
    """-> (IASM, IAS-ViT): the image side alone (benchmarks and saliency training need no LM)."""
    from .backbones import load_iasm_encoder, load_vision
    from .model.ias_vit import IASViT
    from .model.iasm import IASM

    tower, mean, std, size = load_vision(config.vision.backbone, config.vision.image_size)
    # the config records what the tower needs, so a saved model never depends on defaults
    config.vision.mean, config.vision.std, config.vision.image_size = tuple(mean), tuple(std), size
    encoder, channels = load_iasm_encoder(config.iasm.backbone, config.iasm.image_size)
    iasm = IASM(config.iasm, encoder, channels)
    return iasm, IASViT(config.vision, config.fusion, tower, kv_dim=iasm.token_dim)


def build_model(config: ModelConfig):
    from .backbones import load_lm
    from .model.captioner import AestheticCaptioner
    from .model.language_model import add_lora

    iasm, vision = build_vision(config)
    lm, tokenizer = load_lm(config.lm.backbone, config.lm.image_token)
    if config.lm.lora is not None:
        add_lora(lm, config.lm.lora)
    return AestheticCaptioner(config, iasm, vision, lm, tokenizer).eval()
