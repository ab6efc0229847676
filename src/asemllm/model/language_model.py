"""The language side: image embeddings spliced into the LM's input embeddings, and LoRA."""

from __future__ import annotations

import torch
from torch import nn

from ..config import LoRAConfig


def splice_image_embeddings(lm: nn.Module, input_ids: torch.Tensor, image_embeds: torch.Tensor,
                            image_token_id: int) -> torch.Tensor:
    """input_ids (B,T) with image placeholders, image_embeds (B,n,D) -> inputs_embeds (B,T,D).

    The placeholder id may lie outside the LM's vocabulary (the LM is never resized), so its
    positions are looked up as id 0 and then overwritten in one masked operation.
    """
    mask = input_ids == image_token_id  # (B, T)
    n_tokens, n_features = int(mask.sum()), image_embeds.shape[0] * image_embeds.shape[1]
    if n_tokens != n_features:
        raise ValueError(
            f"Image features and image tokens do not match: tokens {n_tokens}, features {n_features}")
    embeds = lm.get_input_embeddings()(input_ids.masked_fill(mask, 0))  # (B, T, D)
    return embeds.masked_scatter(mask.unsqueeze(-1), image_embeds.to(embeds.dtype))


def add_lora(lm: nn.Module, config: LoRAConfig) -> nn.Module:
    """Inject LoRA adapters in place; base weights keep their names (plus `.base_layer`)."""
    from peft import LoraConfig, inject_adapter_in_model

    lora = LoraConfig(r=config.r, lora_alpha=config.alpha, lora_dropout=config.dropout,
                      target_modules=list(config.target_modules))
    return inject_adapter_in_model(lora, lm)


def merge_lora(lm: nn.Module) -> int:
    """Fold every LoRA adapter into its base weight and put the plain layer back in its place, for
    inference: one matmul per projection instead of three, and no adapter bookkeeping per call
    (decoding a few rows is bound by such per-call costs). The model can no longer be trained
    or saved as a LoRA model afterwards. -> the number of layers merged."""
    from peft.tuners.lora import LoraLayer

    targets = [(name, m) for name, m in lm.named_modules() if isinstance(m, LoraLayer)]
    for name, module in targets:
        module.merge()
        parent, _, child = name.rpartition(".")
        setattr(lm.get_submodule(parent) if parent else lm, child, module.get_base_layer())
    return len(targets)


def restrict_output(lm: nn.Module, ids: list[int]) -> torch.Tensor:
    """Keep only the output layer's rows `ids`, for inference: the logits then score those tokens
    alone, and a step reads len(ids) rows of it instead of the whole vocabulary (SmolLM2: 49,152
    x 576, a fifth of its weights). The input embeddings stay whole (the prompts use any token).
    -> ids (K,) as a tensor: logit k is token ids[k]."""
    head = lm.get_output_embeddings()
    if ids != sorted(set(ids)) or not 0 <= ids[0] <= ids[-1] < head.weight.shape[0]:
        raise ValueError(f"output ids must be sorted, distinct and below {head.weight.shape[0]}: "
                         f"got {len(ids)} from {ids[:1]} to {ids[-1:]}")
    kept = torch.tensor(ids, device=head.weight.device)
    small = nn.Linear(head.in_features, len(ids), bias=head.bias is not None,
                      device=head.weight.device, dtype=head.weight.dtype)
    small.weight = nn.Parameter(head.weight.detach()[kept].clone(), requires_grad=False)  # untied: a copy
    if head.bias is not None:
        small.bias = nn.Parameter(head.bias.detach()[kept].clone(), requires_grad=False)
    lm.set_output_embeddings(small)
    return kept
