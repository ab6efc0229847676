"""Token-by-token decoding from input embeddings, with or without the KV cache.

Batched prompts are left-padded: every row's last prompt token sits at the same index, so one new
token per row is appended per step. Position ids come from the attention mask, so padding does
not shift the positions of real tokens.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn


@dataclass
class Sampling:
    max_new_tokens: int = 64
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    # Generate exactly max_new_tokens, ignoring end-of-turn (benchmarks compare equal work).
    ignore_eos: bool = False


def positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, T) 0/1 mask -> (B, T) position ids; padding gets 0."""
    return (attention_mask.cumsum(-1) - 1).clamp(min=0)


def next_token(logits: torch.Tensor, s: Sampling, generator: torch.Generator | None) -> torch.Tensor:
    """logits (B, V) -> token ids (B,)."""
    if not s.do_sample:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / max(s.temperature, 1e-5), dim=-1)
    if s.top_p < 1.0:
        sorted_p, order = probs.sort(dim=-1, descending=True)
        # keep the smallest prefix whose mass reaches top_p (always at least the top token)
        drop = sorted_p.cumsum(-1) - sorted_p > s.top_p
        sorted_p = sorted_p.masked_fill(drop, 0.0)
        choice = torch.multinomial(sorted_p, 1, generator=generator)
        return order.gather(-1, choice).squeeze(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


class Prefix(NamedTuple):
    """A start several rows share (a photo's system prompt and image tokens, one per aspect)."""
    embeds: torch.Tensor  # (P, Tp, D): each distinct prefix once, no padding
    rows: torch.Tensor  # (B,) long: the prefix each row continues


@torch.no_grad()
def decode(lm: nn.Module, embeds: torch.Tensor, attention_mask: torch.Tensor, eos_ids: set[int],
           pad_id: int, s: Sampling, use_cache: bool = True,
           generator: torch.Generator | None = None, prefix: Prefix | None = None) -> torch.Tensor:
    """embeds (B,T,D) left-padded -> new token ids (B, <= max_new_tokens), pad after each end.

    With the cache, rows that have ended leave the batch (their cache rows are dropped), so a
    batch costs what its live sequences cost, not its longest one times its size. With a
    `prefix`, `embeds` holds what follows it in each row (padding sits between the two)."""
    B = embeds.shape[0]
    live = torch.arange(B, device=embeds.device)  # original row of each row still decoding
    eos = torch.tensor(sorted(eos_ids), device=embeds.device)
    cache = _new_cache() if use_cache else None
    cache_arg = _cache_kwarg(lm)
    # only the last position's logits are needed: skips a (T x vocab) matmul in the prefill
    extra = {"logits_to_keep": 1} if "logits_to_keep" in inspect.signature(lm.forward).parameters else {}
    inputs, mask = embeds, attention_mask
    if prefix is not None:
        inputs, mask = _start(lm, prefix, inputs, mask, cache, cache_arg, extra)
    out = torch.full((B, s.max_new_tokens), pad_id, dtype=torch.long, device=embeds.device)
    done = torch.zeros(B, dtype=torch.bool, device=embeds.device)  # ended rows still in the batch
    steps = 0
    for step in range(s.max_new_tokens):
        pos = positions(mask)
        if use_cache:  # the cache holds the past: feed only what is new
            pos = pos[:, -inputs.shape[1]:]
        res = lm(inputs_embeds=inputs, attention_mask=mask, position_ids=pos,
                 use_cache=use_cache, **{cache_arg: cache}, **extra)
        cache = getattr(res, cache_arg) if use_cache else None
        tok = next_token(res.logits[:, -1], s, generator).masked_fill(done, pad_id)
        out[live, step] = tok
        steps = step + 1
        if not s.ignore_eos:
            done = done | torch.isin(tok, eos)
            if done.all():
                break
        new = lm.get_input_embeddings()(tok[:, None])  # (b, 1, D)
        if use_cache and done.any():  # ended rows leave the batch and the cache
            keep = (~done).nonzero().squeeze(1)
            cache.batch_select_indices(keep)
            live, new, mask, done = live[keep], new[keep], mask[keep], done[keep]
        inputs = new if use_cache else torch.cat([inputs, new], dim=1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
    return out[:, :steps]


def _start(lm, prefix: Prefix, rest, rest_mask, cache, cache_arg, extra):
    """With the cache: read each distinct prefix once and copy its cache to the rows that share it
    (a photo's seven aspects cost one prefix); -> the inputs and mask that follow. Without: the
    rows' full inputs."""
    rows = prefix.rows.to(rest.device)
    ones = rest_mask.new_ones(prefix.embeds.shape[:2])  # (P, Tp)
    mask = torch.cat([ones[rows], rest_mask], dim=1)  # (B, Tp + T)
    if cache is None:
        return torch.cat([prefix.embeds[rows], rest], dim=1), mask
    lm(inputs_embeds=prefix.embeds, attention_mask=ones, position_ids=positions(ones), use_cache=True,
       **{cache_arg: cache}, **extra)
    cache.batch_select_indices(rows)  # (P, ...) -> (B, ...), rows may repeat
    return rest, mask


def _cache_kwarg(lm: nn.Module) -> str:
    """transformers >= 5.2x calls the KV cache `cache`; earlier releases `past_key_values`."""
    return "cache" if "cache" in inspect.signature(lm.forward).parameters else "past_key_values"


def _new_cache():
    from transformers import DynamicCache

    return DynamicCache()
