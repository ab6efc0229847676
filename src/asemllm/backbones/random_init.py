"""Backbone architectures with random weights: what a machine without the weight packages (a
borrowed GPU) or without network access needs to measure speed and memory at the real shapes.
The offline backbones' hyperparameters are those of the converted checkpoints in the cache
(config.json of dinov2-s and SmolLM2-135M); the `hf:` twins' are the published configs of CLIP
ViT-L/14-336 and Qwen2.5-1.5B/7B-Instruct, written here so that nothing is downloaded."""

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


# ---------------------------------------------------------------------------------------------------
# Random twins of the `hf:` backbones the PCCD configs name: their published architectures, written
# here so that `asemllm train --dry-run` measures memory and step time at the real shapes offline.

CLIP_MEAN_STD = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))

# hf id (lower case) -> the twin's name; the offline backbones map to their random architectures too
TWINS = {"hf:openai/clip-vit-large-patch14-336": "random:clip-vit-large-patch14-336",
         "hf:qwen/qwen2.5-1.5b-instruct": "random:qwen2.5-1.5b-instruct",
         "hf:qwen/qwen2.5-7b-instruct": "random:qwen2.5-7b-instruct",
         "dinov2-s": "random:dinov2-s", "smollm2-135m-instruct": "random:smollm2-135m"}

# the two Qwen2.5 sizes' config.json shapes (the Instruct checkpoints share their base's)
QWEN25 = {
    "1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                 num_key_value_heads=2, vocab_size=151936, tie_word_embeddings=True),
    "7b": dict(hidden_size=3584, intermediate_size=18944, num_hidden_layers=28, num_attention_heads=28,
               num_key_value_heads=4, vocab_size=152064, tie_word_embeddings=False),
}


def random_twin(name: str) -> str:
    """The backbone name a dry run builds instead of `name`: its random twin, or `name` itself when
    it needs no download (tiny-*, random:*, IASM encoders). An `hf:` id without a twin is an error."""
    twin = TWINS.get(name.lower())
    if twin is not None:
        return twin
    if name.startswith("hf:"):
        known = ", ".join(k for k in TWINS if k.startswith("hf:"))
        raise ValueError(f"{name}: no offline random twin for this hf: id (known: {known})")
    return name


def clip_vit_l14_336_config():
    """CLIP ViT-L/14 at 336 px, LLaVA-1.5's tower: 24 blocks of width 1024, 577 tokens, 303M parameters."""
    from transformers import CLIPVisionConfig

    return CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                            patch_size=14, image_size=336, projection_dim=768, hidden_act="quick_gelu",
                            layer_norm_eps=1e-5)


def clip_vit_l14_336() -> nn.Module:
    from transformers import CLIPVisionModel

    return CLIPVisionModel(clip_vit_l14_336_config()).eval()


def qwen25_config(size: str):
    """Qwen2.5-{1.5B,7B}-Instruct's architecture (`size`: "1.5b" or "7b"), with its real vocabulary:
    the embedding and output layers are a large part of the memory."""
    from transformers import Qwen2Config

    if size not in QWEN25:
        raise ValueError(f"Qwen2.5 size {size!r}: known {sorted(QWEN25)}")
    return Qwen2Config(**QWEN25[size], max_position_embeddings=32768, rms_norm_eps=1e-6,
                       rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                       use_sliding_window=False, bos_token_id=151643, eos_token_id=151645)


def qwen25(size: str) -> nn.Module:
    from transformers import Qwen2ForCausalLM

    return Qwen2ForCausalLM(qwen25_config(size)).eval()


def twin_parameters(name: str) -> int:
    """Parameters of a twin backbone, counted on the meta device (nothing allocated); 0 for a name
    that is not a twin."""
    import torch

    build = {"random:clip-vit-large-patch14-336": clip_vit_l14_336, "random:dinov2-s": dinov2_s,
             "random:smollm2-135m": smollm2_135m,
             **{f"random:qwen2.5-{s}-instruct": (lambda s=s: qwen25(s)) for s in QWEN25}}.get(name)
    if build is None:
        return 0
    with torch.device("meta"):
        module = build()
    return sum(p.numel() for p in module.parameters())
