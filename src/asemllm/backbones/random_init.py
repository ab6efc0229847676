"""The offline backbones' architectures with random weights: what a machine without the weight
packages (a borrowed GPU) needs to measure speed and memory at the real shapes. Hyperparameters
are those of the converted checkpoints in the cache (config.json of dinov2-s and SmolLM2-135M)."""

from __future__ import annotations

from torch import nn


def dinov2_s() -> nn.Module:
    """ViT-S/14 in DINOv2 layout, 22M parameters. The position table is the checkpoint's 518 px
    one (37x37 patches): at 224 px it is interpolated on every call, as with the real weights."""
    from transformers import Dinov2Config, Dinov2Model

    cfg = Dinov2Config(image_size=518, patch_size=14, hidden_size=384, num_hidden_layers=12,
                       num_attention_heads=6, mlp_ratio=4, layer_norm_eps=1e-6, layerscale_value=1.0)
    return Dinov2Model(cfg).eval()


def smollm2_135m(vocab_size: int = 49152) -> nn.Module:
    """SmolLM2-135M's Llama, 135M parameters, tied embeddings; its 49,152-row vocabulary even when
    the tokenizer is smaller, so the embedding and output layers cost what they really cost."""
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                      num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
                      rms_norm_eps=1e-5, rope_parameters={"rope_type": "default", "rope_theta": 100000.0},
                      tie_word_embeddings=True)
    return LlamaForCausalLM(cfg).eval()
