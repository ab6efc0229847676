"""Tiny random image-text-to-text models of transformers' own architectures, saved with a processor
built offline, for the baseline and recipe plumbing tests. Their weights are random: nothing they
write is a critique, and no score from them is a result."""

import pytest

# A ChatML template that marks the photo with `image` (the model's own placeholder text).
CHAT = ("{% for message in messages %}<|im_start|>{{ message['role'] }}\n{% for c in message['content'] %}"
        "{% if c['type'] == 'image' %}IMAGE{% else %}{{ c['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
        "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
QWEN_TOKENS = ["<|vision_start|>", "<|image_pad|>", "<|vision_end|>", "<|video_pad|>"]


def _text_config(tok) -> dict:
    return dict(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                num_attention_heads=4, num_key_value_heads=2, bos_token_id=None,
                eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)


def save_tiny_llava(folder) -> str:
    """LlavaForConditionalGeneration: a 2-layer CLIP tower (32 px, 8 px patches) + a 2-layer Llama."""
    import torch
    from transformers import (CLIPImageProcessor, CLIPVisionConfig, LlamaConfig, LlavaConfig,
                              LlavaForConditionalGeneration, LlavaProcessor)

    from asemllm.backbones.tiny import byte_tokenizer

    tok = byte_tokenizer()
    tok.add_tokens(["<image>"], special_tokens=True)
    images = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    processor = LlavaProcessor(image_processor=images, tokenizer=tok, patch_size=8, num_additional_image_tokens=1,
                               vision_feature_select_strategy="default",
                               chat_template=CHAT.replace("IMAGE", "<image>\n"))
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=32, patch_size=8)
    config = LlavaConfig(vision_config=vision, text_config=LlamaConfig(**_text_config(tok)),
                         image_token_index=tok.convert_tokens_to_ids("<image>"),
                         vision_feature_select_strategy="default", vision_feature_layer=-2)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


def save_tiny_qwen(folder, version: str = "2") -> str:
    """Qwen2VLForConditionalGeneration (version "2") or Qwen2_5_VLForConditionalGeneration ("2.5"):
    a 2-block vision tower on 56x56 px photos (4 merged image tokens) + a 2-layer LM with M-RoPE.
    transformers builds these processors only with torchvision installed."""
    import torch
    import transformers as tf

    from asemllm.backbones.tiny import byte_tokenizer

    tok = byte_tokenizer()
    tok.add_tokens(QWEN_TOKENS, special_tokens=True)
    ids = dict(zip(["vision_start_token_id", "image_token_id", "vision_end_token_id", "video_token_id"],
                   tok.convert_tokens_to_ids(QWEN_TOKENS)))
    sizes = dict(min_pixels=56 * 56, max_pixels=56 * 56, patch_size=14, merge_size=2, temporal_patch_size=2)
    chat = CHAT.replace("IMAGE", "<|vision_start|><|image_pad|><|vision_end|>")
    text = {**_text_config(tok), "rope_parameters": {"rope_type": "default", "mrope_section": [2, 3, 3],
                                                      "rope_theta": 10000.0}}
    common = dict(depth=2, num_heads=2, patch_size=14, spatial_merge_size=2, temporal_patch_size=2)
    if version == "2":
        processor_cls, config_cls, model_cls = tf.Qwen2VLProcessor, tf.Qwen2VLConfig, tf.Qwen2VLForConditionalGeneration
        vision = dict(common, embed_dim=32, hidden_size=64)
    else:
        processor_cls, config_cls = tf.Qwen2_5_VLProcessor, tf.Qwen2_5_VLConfig
        model_cls = tf.Qwen2_5_VLForConditionalGeneration
        vision = dict(common, hidden_size=32, intermediate_size=64, out_hidden_size=64, fullatt_block_indexes=[1],
                      window_size=56)
    processor = processor_cls(image_processor=tf.Qwen2VLImageProcessor(**sizes), tokenizer=tok,
                              video_processor=tf.Qwen2VLVideoProcessor(**sizes), chat_template=chat)
    torch.manual_seed(0)
    model_cls(config_cls(text_config=text, vision_config=vision, **ids)).save_pretrained(folder)
    processor.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_llava(tmp_path_factory) -> str:
    """A saved tiny random LLaVA folder (built once per session)."""
    return save_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


@pytest.fixture
def tiny_qwen(tmp_path):
    """save_tiny_qwen(version) -> a saved tiny random Qwen2-VL ("2") or Qwen2.5-VL ("2.5") folder."""
    return lambda version: save_tiny_qwen(tmp_path / f"qwen{version}", version)


@pytest.fixture(scope="session")
def java():
    """The caption metrics run the PTB tokenizer (and METEOR) as Java jars: skip, saying so, without Java."""
    from asemllm.evaluation.caption_metrics import java_status

    ok, msg = java_status()
    if not ok:
        pytest.skip(f"the caption metrics need Java: {msg}")
    return msg
