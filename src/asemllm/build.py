"""Build an AestheticCaptioner from a ModelConfig: resolve the backbones, attach the new modules."""

from __future__ import annotations

from .config import ModelConfig


def build_model(config: ModelConfig):
    from .backbones import load_iasm_encoder, load_lm, load_vision
    from .model.captioner import AestheticCaptioner
    from .model.ias_vit import IASViT
    from .model.iasm import IASM
    from .model.language_model import add_lora

    tower, mean, std, size = load_vision(config.vision.backbone, config.vision.image_size)
    # the config records what the tower needs, so a saved model never depends on defaults
    config.vision.mean, config.vision.std, config.vision.image_size = tuple(mean), tuple(std), size
    encoder, channels = load_iasm_encoder(config.iasm.backbone, config.iasm.image_size)
    iasm = IASM(config.iasm, encoder, channels)
    vision = IASViT(config.vision, config.fusion, tower, kv_dim=iasm.token_dim)
    lm, tokenizer = load_lm(config.lm.backbone, config.lm.image_token)
    if config.lm.lora is not None:
        add_lora(lm, config.lm.lora)
    return AestheticCaptioner(config, iasm, vision, lm, tokenizer).eval()
