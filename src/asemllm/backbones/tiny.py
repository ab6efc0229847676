"""Tiny random backbones for unit tests: a 2-block DINOv2-layout ViT, a 2-layer Llama with a
byte-level tokenizer, and a 3-stage CNN. Real transformers classes, just small."""

from __future__ import annotations

import torch
from torch import nn



def tiny_vit(image_size: int = 64) -> nn.Module:
    from transformers import Dinov2Config, Dinov2Model

    cfg = Dinov2Config(image_size=image_size, patch_size=8, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, mlp_ratio=2, layer_norm_eps=1e-6)
    return Dinov2Model(cfg).eval()


def byte_tokenizer():
    """A real (fast) tokenizer: one token per UTF-8 byte, plus ChatML specials and <image>."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {ch: i for i, ch in enumerate(_byte_chars())}
    tk = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    tk.decoder = decoders.ByteLevel()
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, eos_token="<|im_end|>", pad_token="<|endoftext|>",
                                  unk_token="<|endoftext|>")
    tok.add_tokens(["<|im_start|>"], special_tokens=True)
    return tok


def _byte_chars() -> list[str]:
    """GPT-2's printable stand-ins for the 256 byte values, in byte order."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = {}, 0
    for b in range(256):
        if b in printable:
            chars[b] = chr(b)
        else:
            chars[b] = chr(256 + extra)
            extra += 1
    return [chars[b] for b in range(256)]


def tiny_lm(vocab_size: int) -> nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    cfg = LlamaConfig(vocab_size=vocab_size, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      tie_word_embeddings=True)
    return LlamaForCausalLM(cfg).eval()


class TinyCNN(nn.Module):
    """Features at strides 8/16/32 from three conv stages; channels (16, 24, 32)."""

    channels = (16, 24, 32)

    def __init__(self):
        super().__init__()

        def stage(cin, cout, stride):
            return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        self.stem = nn.Sequential(stage(3, 8, 2), stage(8, 12, 2), stage(12, 16, 2))
        self.s16 = stage(16, 24, 2)
        self.s32 = stage(24, 32, 2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f8 = self.stem(x * 2 - 1)
        f16 = self.s16(f8)
        return [f8, f16, self.s32(f16)]
