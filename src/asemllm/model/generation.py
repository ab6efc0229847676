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
           generator: torch.Generator | None = None, prefix: Prefix | None = None,
           vocab: torch.Tensor | None = None, drafters: list | None = None) -> torch.Tensor:
    """embeds (B,T,D) left-padded -> new token ids (B, <= max_new_tokens), pad after each end.
    `vocab` (V,): the token id of each logit when the LM's output layer scores only those.
    `drafters` (a `asemllm.model.drafting.Drafter` per row): while few rows decode greedily with
    the cache, each pass also checks the tokens they guess next and keeps those the LM would have
    chosen.

    With the cache, rows that have ended leave the batch (their cache rows are dropped, a quarter
    of the batch at a time), so a batch costs about what its live sequences cost, not its longest
    one times its size. With a `prefix`, `embeds` holds what follows it in each row (padding sits
    between the two)."""
    from .drafting import guesses_per_row

    B = embeds.shape[0]
    live = torch.arange(B)  # original row of each row still decoding
    rows = _Rows(B, eos_ids, s)
    step_fn = _Step(lm)
    if use_cache:
        logits, cache, mask = _prefill(step_fn, embeds, attention_mask, prefix)
    else:
        cache = None
        inputs, mask = _joined(prefix, embeds, attention_mask)
        logits = step_fn(inputs, mask, None)
    tok = _chosen(logits, s, generator, vocab)[:, 0]  # (b,)
    done = torch.zeros(B, dtype=torch.bool)  # ended rows still in the batch
    while True:
        done = rows.emit(live, tok, done)
        if bool(done.all()):
            break
        # ended rows leave a quarter of the batch at a time: each leaving copies the whole cache,
        # and a few dead rows for a few steps cost less than a copy per row
        if use_cache and int(done.sum()) > len(done) // 4:
            keep = (~done).nonzero().squeeze(1)
            on = keep.to(mask.device)
            cache.batch_select_indices(on)
            live, tok, mask, done = live[keep], tok[on], mask[on], done[keep]
        k = guesses_per_row(len(live)) if drafters is not None and use_cache and not s.do_sample else 0
        drafts = [[] if d else drafters[r].propose(rows.tokens[r], k) for r, d in zip(live.tolist(), done)] \
            if k > 0 else [[]] * len(live)
        ids, new_mask = _with_drafts(tok, drafts, pad_id)  # (b, w) each
        new = lm.get_input_embeddings()(ids)  # (b, w, D)
        mask = torch.cat([mask, new_mask], dim=1)
        if use_cache:  # the cache holds the past: feed only what is new
            logits = step_fn(new, mask, cache, keep=ids.shape[1])
        else:
            inputs = torch.cat([inputs, new], dim=1)
            logits = step_fn(inputs, mask, None)
        chosen = _chosen(logits, s, generator, vocab)  # (b, w): the LM's token after each input
        tok, mask, ended = _checked(rows, live, drafts, chosen, mask, cache)
        done = done | ended
    return rows.as_tensor(pad_id, embeds.device)


class _Rows:
    """Each row's tokens so far, as Python lists (rows grow by different counts when drafting)."""

    def __init__(self, n: int, eos_ids: set[int], s: Sampling):
        self.tokens: list[list[int]] = [[] for _ in range(n)]
        self.eos = set() if s.ignore_eos else set(eos_ids)
        self.limit = s.max_new_tokens

    def append(self, row: int, token: int) -> bool:
        """Add a token to a row -> has the row ended (its end of turn, or max_new_tokens)?"""
        self.tokens[row].append(token)
        return token in self.eos or len(self.tokens[row]) >= self.limit

    def emit(self, live: torch.Tensor, tok: torch.Tensor, done: torch.Tensor) -> torch.Tensor:
        """Append each live row's next token (unless ended) -> the updated `done`."""
        return torch.tensor([d or self.append(r, t) for r, t, d in zip(live.tolist(), tok.tolist(), done.tolist())],
                            dtype=torch.bool)

    def as_tensor(self, pad_id: int, device) -> torch.Tensor:
        width = max(map(len, self.tokens))
        out = torch.full((len(self.tokens), width), pad_id, dtype=torch.long)
        for i, row in enumerate(self.tokens):
            out[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        return out.to(device)


def _chosen(logits: torch.Tensor, s: Sampling, generator, vocab) -> torch.Tensor:
    """logits (b, w, V) -> token ids (b, w)."""
    b, w, V = logits.shape
    tok = next_token(logits.reshape(b * w, V), s, generator).view(b, w)
    return tok if vocab is None else vocab[tok]


def _with_drafts(tok: torch.Tensor, drafts: list[list[int]], pad_id: int):
    """Each row's next token and its guesses after it -> ids (b, w) and their mask (b, w) (0 where
    a row has fewer guesses than the widest)."""
    w = 1 + max(map(len, drafts))
    ids = torch.full((len(drafts), w), pad_id, dtype=torch.long)
    mask = torch.zeros(len(drafts), w, dtype=torch.long)
    ids[:, 0], mask[:, 0] = tok.cpu(), 1
    for i, d in enumerate(drafts):
        ids[i, 1:1 + len(d)] = torch.tensor(d, dtype=torch.long)
        mask[i, 1:1 + len(d)] = 1
    return ids.to(tok.device), mask.to(tok.device)


def _checked(rows: _Rows, live: torch.Tensor, drafts, chosen: torch.Tensor, mask: torch.Tensor, cache):
    """Keep each row's guesses up to the first the LM would not have chosen -> (each row's next
    token (b,), the mask with the rejected guesses' positions zeroed and those no row kept cut
    off, which rows ended on a kept guess (b,)). The cache keeps a row's rejected positions
    where another row kept more (masked: never read again)."""
    from .kv_cache import crop

    pick = chosen.tolist()
    start = mask.shape[1] - chosen.shape[1]  # this pass's first position
    kept, ended = [], []
    for j, (r, d) in enumerate(zip(live.tolist(), drafts)):
        a = 0
        while a < len(d) and d[a] == pick[j][a]:
            a += 1
        ended.append(any(rows.append(r, t) for t in d[:a]))  # any() stops at the first end
        kept.append(a)
        mask[j, start + 1 + a:] = 0
    tok = chosen[torch.arange(len(kept)), torch.tensor(kept)]
    width = start + 1 + max(kept)
    if cache is not None and width < mask.shape[1]:
        crop(cache, width)
    return tok, mask[:, :width], torch.tensor(ended, dtype=torch.bool)


def keeps_logits(lm: nn.Module) -> bool:
    """Can the LM compute its output layer for the last positions only (`logits_to_keep`)?"""
    return "logits_to_keep" in inspect.signature(lm.forward).parameters


class _Step:
    """One forward pass: inputs (b, t, D), the mask of everything so far (b, T) -> the last
    `keep` positions' logits (b, keep, V), in float32; with a cache, appends the inputs' keys and
    values to it. An LM cast to bfloat16 (the critic's `--precision bf16`) gets its inputs in
    bfloat16, so its cache is too; the image tokens and embeddings arrive in float32."""

    def __init__(self, lm: nn.Module):
        params = inspect.signature(lm.forward).parameters
        self.lm = lm
        self.dtype = lm.get_input_embeddings().weight.dtype
        # transformers >= 5.2x calls the KV cache `cache`; earlier releases `past_key_values`
        self.cache_arg = "cache" if "cache" in params else "past_key_values"
        # only the last positions' logits are needed: skips a (t x vocab) matmul in the prefill
        self.keeps = keeps_logits(lm)

    def __call__(self, inputs: torch.Tensor, mask: torch.Tensor, cache, keep: int = 1) -> torch.Tensor:
        pos = positions(mask)[:, -inputs.shape[1]:]
        extra = {"logits_to_keep": keep} if self.keeps else {}
        res = self.lm(inputs_embeds=inputs.to(self.dtype), attention_mask=mask, position_ids=pos,
                      use_cache=cache is not None, **{self.cache_arg: cache}, **extra)
        return res.logits[:, -keep:].float()


def _joined(prefix: Prefix | None, rest: torch.Tensor, rest_mask: torch.Tensor):
    """The rows' full inputs (B, Tp + T, D) and mask: each row's prefix, then what follows it."""
    if prefix is None:
        return rest, rest_mask
    rows = prefix.rows.to(rest.device)
    ones = rest_mask.new_ones(prefix.embeds.shape[:2])  # (P, Tp)
    return torch.cat([prefix.embeds[rows], rest], dim=1), torch.cat([ones[rows], rest_mask], dim=1)


def _prefill(step: _Step, rest, rest_mask, prefix: Prefix | None):
    """Read the prompts into a new cache -> (last logits (B, V), the cache, the mask (B, Tp + T)).

    Each distinct prefix is read once and its cache copied to the rows that share it (a photo's
    seven aspects cost one prefix). What follows is read in groups of rows of similar length, so
    little of the compute goes to padding; the groups' caches are then joined, each padded to the
    longest row (the padding sits between prefix and rest, where the mask already has it). One
    row and its prefix are read in one pass: there is nothing to share, and each pass streams all the
    weights."""
    if prefix is None or len(prefix.rows) == 1:
        inputs, mask = _joined(prefix, rest, rest_mask)
        cache = _new_cache()
        return step(inputs, mask, cache), cache, mask
    rows = prefix.rows.to(rest.device)
    ones = rest_mask.new_ones(prefix.embeds.shape[:2])  # (P, Tp)
    start = _new_cache()
    step(prefix.embeds, ones, start)
    lengths = rest_mask.sum(1)
    if int(lengths.min()) == 0:
        raise ValueError("every row needs at least one token after its prefix")
    logits, parts = [], []
    groups = length_groups(lengths.tolist(), PASS_COST_TOKENS)
    for idx in groups:
        idx = torch.tensor(idx, device=rest.device)
        width = int(lengths[idx].max())
        cache = _selected(start, rows[idx])
        group_mask = torch.cat([ones[rows[idx]], rest_mask[idx, -width:]], 1)  # (g, Tp + width)
        logits.append(step(rest[idx, -width:], group_mask, cache))
        parts.append((cache, rest.shape[1] - width))
    order = torch.tensor([i for g in groups for i in g], device=rest.device).argsort()  # group order -> row order
    mask = torch.cat([ones[rows], rest_mask], dim=1)
    return torch.cat(logits)[order], _joined_caches(parts, ones.shape[1], order), mask


# What one more pass of the LM costs, in positions of padding: a pass streams all the weights once
# whatever its size, so a group of rows is worth its own pass when it saves more padding than this.
# Decoding and training (asemllm.model.captioner) cut their batches with it.
PASS_COST_TOKENS = 35


def length_groups(lengths: list[int], pass_cost: int) -> list[list[int]]:
    """Row indices cut into groups of similar length, each to be run padded to its longest row:
    the cut (of the rows sorted by length) that runs the fewest positions, counting `pass_cost`
    for each group. Shortest group first, each group's rows from shortest to longest."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    n = len(order)
    best = [0] + [float("inf")] * n  # best[j]: cost of the first j sorted rows
    cut = [0] * (n + 1)
    for j in range(1, n + 1):
        for i in range(j):  # rows i..j-1 form the last group, padded to the longest, row j-1
            cost = best[i] + (j - i) * lengths[order[j - 1]] + pass_cost
            if cost < best[j]:
                best[j], cut[j] = cost, i
    groups, j = [], n
    while j > 0:
        groups.append(order[cut[j]:j])
        j = cut[j]
    return groups[::-1]


def _selected(cache, rows: torch.Tensor):
    """A new cache holding `rows` of `cache` (rows may repeat)."""
    out = _new_cache()
    for i, layer in enumerate(cache.layers):
        out.update(layer.keys[rows], layer.values[rows], i)
    return out


def _joined_caches(parts, at: int, order: torch.Tensor):
    """[(cache (b_i, H, at + T - pad_i, d), pad_i)] -> one cache (sum b_i, H, at + T, d) in `order`,
    pad_i zero columns inserted at `at` (masked positions: their values are never read). The parts
    are used up layer by layer, so they and the joined cache are not all in memory at once."""
    out = _new_cache()
    for i in range(len(parts[0][0].layers)):
        keys, values = [], []
        for cache, pad in parts:
            layer, cache.layers[i] = cache.layers[i], None
            for t, dst in ((layer.keys, keys), (layer.values, values)):
                gap = t.new_zeros(*t.shape[:2], pad, t.shape[3])
                dst.append(torch.cat([t[:, :, :at], gap, t[:, :, at:]], dim=2))
        out.update(torch.cat(keys)[order], torch.cat(values)[order], i)
    return out


def _new_cache():
    from .kv_cache import roomy_cache

    return roomy_cache()


# ---- continuous batching: a stream of jobs through one pool of live rows ------------------------

# Rows a stream keeps decoding at once (asemllm.critic's photos: 7 aspects each). Enough that a pass
# reads a few dozen tokens (rows x their guesses, `drafting.DRAFT_TOKENS`), few enough that rows
# still get guesses checked in the same pass.
STREAM_ROWS = 24


class Job(NamedTuple):
    """Rows that finish together for the caller (a photo's aspects), decoded as part of a stream."""
    tag: object  # handed back with the job's tokens
    embeds: torch.Tensor  # (k, T, D) what follows the prefix in each row, left-padded
    mask: torch.Tensor  # (k, T)
    prefix: torch.Tensor | None = None  # (1, Tp, D) the start all k rows share, or None
    drafters: list | None = None  # a `drafting.Drafter` per row, or None


@torch.no_grad()
def decode_stream(lm: nn.Module, jobs, eos_ids: set[int], s: Sampling, pad_id: int, rows: int = STREAM_ROWS,
                  generator: torch.Generator | None = None, vocab: torch.Tensor | None = None):
    """Jobs (an iterable, read lazily) -> (tag, each row's new tokens as a list) per job, as each
    job's last row ends: continuous batching. A pool of up to `rows` live rows decodes together
    (each job is admitted whole, so one larger than `rows` runs alone); as rows end, the next
    jobs' rows are prefilled and joined to the pool instead of the pool waiting for its longest
    row. Greedy, each row's tokens are those `decode` writes for it in a batch (up to float ties:
    a row's padding and neighbours differ), drafts included. With the cache only."""
    pool = _Pool(lm, eos_ids, s, pad_id, generator, vocab)
    jobs = iter(jobs)
    waiting = next(jobs, None)
    while True:
        admitted, live = [], pool.live_rows()
        while waiting is not None and (live + waiting.embeds.shape[0] <= rows or not (live or admitted)):
            admitted.append(waiting)
            live += waiting.embeds.shape[0]
            waiting = next(jobs, None)
        if admitted:
            pool.admit(admitted)
        elif pool.dead_rows() > len(pool.live) // 4:
            pool.drop()  # as in `decode`: a quarter at a time, each leaving copies the cache
        yield from pool.finished()
        if not pool.live_rows():
            if waiting is None:
                return
            continue
        pool.step()
        yield from pool.finished()


class _Pool:
    """The live rows of a stream: their cache, mask, last tokens, which have ended, and their jobs.
    Rows are numbered in the order they were admitted (`_Rows` keeps their tokens by number)."""

    def __init__(self, lm, eos_ids, s: Sampling, pad_id: int, generator, vocab):
        self.lm, self.step_fn, self.s, self.pad_id = lm, _Step(lm), s, pad_id
        self.generator, self.vocab = generator, vocab
        self.rows = _Rows(0, eos_ids, s)
        self.live = torch.zeros(0, dtype=torch.long)  # row number of each pool row
        self.done = torch.zeros(0, dtype=torch.bool)  # pool rows that ended (still in the cache)
        self.tok = self.mask = self.cache = None
        self.drafters: dict[int, object] = {}  # row number -> its drafter
        self.job_of: dict[int, int] = {}  # row number -> job number
        self.jobs: dict[int, tuple[object, list[int], int]] = {}  # job number -> (tag, its rows, rows still going)
        self.admitted = 0  # jobs so far: the next job's number
        self.ended: list[int] = []  # rows ended since `finished` last looked

    def live_rows(self) -> int:
        return int((~self.done).sum())

    def dead_rows(self) -> int:
        return int(self.done.sum())

    def admit(self, jobs: list[Job]) -> None:
        """Prefill the jobs' rows (a group of jobs per prefix length, each prefix read once), choose
        and emit each one's first token, and join them to the pool; ended rows leave it."""
        by_width: dict[int, list[Job]] = {}
        for job in jobs:
            by_width.setdefault(-1 if job.prefix is None else job.prefix.shape[1], []).append(job)
        for group in by_width.values():
            self._admit(group)

    def _admit(self, jobs: list[Job]) -> None:
        k = [j.embeds.shape[0] for j in jobs]
        width = max(j.embeds.shape[1] for j in jobs)
        rest = torch.cat([_left_padded(j.embeds, width) for j in jobs])
        rest_mask = torch.cat([_left_padded(j.mask, width) for j in jobs])
        prefix = None
        if jobs[0].prefix is not None:
            each = torch.tensor(k, device=rest.device)
            prefix = Prefix(torch.cat([j.prefix for j in jobs]), torch.arange(len(jobs), device=rest.device)
                            .repeat_interleave(each))
        logits, cache, mask = _prefill(self.step_fn, rest, rest_mask, prefix)
        tok = _chosen(logits, self.s, self.generator, self.vocab)[:, 0]
        first = len(self.rows.tokens)
        numbers = torch.arange(first, first + sum(k))
        self.rows.tokens.extend([] for _ in range(sum(k)))
        at = first
        for job in jobs:
            n = job.embeds.shape[0]
            self.jobs[self.admitted] = (job.tag, list(range(at, at + n)), n)
            for i in range(n):
                self.job_of[at + i] = self.admitted
                if job.drafters is not None:
                    self.drafters[at + i] = job.drafters[i]
            self.admitted += 1
            at += n
        self._join(cache, mask, tok, numbers)
        self.done[-len(numbers):] = self._emit(numbers, tok, torch.zeros(len(numbers), dtype=torch.bool))

    def _join(self, cache, mask, tok, numbers) -> None:
        """Add prefilled rows to the pool: the pool's live rows and the new ones, each side padded
        on the left to the longer (the padding is masked, so no row's positions move)."""
        keep = (~self.done).nonzero().squeeze(1)
        if self.cache is None or not len(keep):
            self.cache, self.mask, self.tok, self.live = cache, mask, tok, numbers
            self.done = torch.zeros(len(numbers), dtype=torch.bool)
            return
        on = keep.to(self.mask.device)
        old_mask = self.mask[on]
        cut = _first_used(old_mask)
        old_mask = old_mask[:, cut:]
        width = max(old_mask.shape[1], mask.shape[1])
        self.cache = _stacked(self.cache, on, cut, cache, width)
        self.mask = torch.cat([_left_padded(old_mask, width), _left_padded(mask, width)])
        self.tok = torch.cat([self.tok[on], tok])
        self.live = torch.cat([self.live[keep], numbers])
        self.done = torch.zeros(len(self.live), dtype=torch.bool)

    def drop(self) -> None:
        """Ended rows leave the pool; columns that only they used leave with them."""
        from .kv_cache import crop_left

        keep = (~self.done).nonzero().squeeze(1)
        on = keep.to(self.mask.device)
        self.cache.batch_select_indices(on)
        mask = self.mask[on]
        cut = _first_used(mask)
        if cut:
            crop_left(self.cache, cut)
        self.mask, self.tok, self.live, self.done = mask[:, cut:], self.tok[on], self.live[keep], self.done[keep]

    def step(self) -> None:
        """One pass over every pool row: its last token and, greedy, its guesses of the next."""
        from .drafting import guesses_per_row

        s = self.s
        k = guesses_per_row(len(self.live)) if self.drafters and not s.do_sample else 0
        drafts = [[] if d or r not in self.drafters else self.drafters[r].propose(self.rows.tokens[r], k)
                  for r, d in zip(self.live.tolist(), self.done.tolist())] if k > 0 else [[]] * len(self.live)
        ids, new_mask = _with_drafts(self.tok, drafts, self.pad_id)
        self.mask = torch.cat([self.mask, new_mask], dim=1)
        logits = self.step_fn(self.lm.get_input_embeddings()(ids), self.mask, self.cache, keep=ids.shape[1])
        chosen = _chosen(logits, s, self.generator, self.vocab)
        before = self.done.clone()
        tok, self.mask, ended = _checked(self.rows, self.live, drafts, chosen, self.mask, self.cache)
        self.tok = tok
        self.done = self._emit(self.live, tok, self.done | ended, before)

    def _emit(self, numbers, tok, done, before=None) -> torch.Tensor:
        """Emit each row's chosen token (unless ended) -> the rows' updated `done`; the rows that
        ended since `before` are noted for `finished`."""
        after = self.rows.emit(numbers, tok, done)
        before = torch.zeros_like(after) if before is None else before
        self.ended += numbers[after & ~before].tolist()
        return after

    def finished(self):
        """(tag, its rows' tokens) of each job whose last row ended since the last look, in order of
        admission; their tokens are let go."""
        out = []
        for r in self.ended:
            j = self.job_of.pop(r)
            self.drafters.pop(r, None)
            tag, numbers, going = self.jobs[j]
            self.jobs[j] = (tag, numbers, going - 1)
            if going == 1:
                out.append(j)
        self.ended = []
        for j in sorted(out):
            tag, numbers, _ = self.jobs.pop(j)
            texts = [self.rows.tokens[r] for r in numbers]
            for r in numbers:
                self.rows.tokens[r] = None
            yield tag, texts


def _first_used(mask: torch.Tensor) -> int:
    """The first column any row of `mask` (b, T) uses (T when none does)."""
    used = mask.any(0).nonzero()
    return int(used[0]) if len(used) else mask.shape[1]


def _left_padded(t: torch.Tensor, width: int, dim: int = 1) -> torch.Tensor:
    """t with `width` positions along `dim`: zeros put in front of its own."""
    gap = width - t.shape[dim]
    if gap == 0:
        return t
    shape = list(t.shape)
    shape[dim] = gap
    return torch.cat([t.new_zeros(shape), t], dim=dim)


def _stacked(old, rows: torch.Tensor, cut: int, new, width: int):
    """`rows` of cache `old` from column `cut` on, then all of cache `new`: one cache
    (len(rows) + b_new, H, width, d), each part padded on the left with zero columns (masked).
    Both are used up layer by layer, so the three are not all in memory at once."""
    out = _new_cache()
    for i in range(len(old.layers)):
        a, old.layers[i] = old.layers[i], None
        b, new.layers[i] = new.layers[i], None
        keys = [a.keys[rows][:, :, cut:], b.keys]
        values = [a.values[rows][:, :, cut:], b.values]
        out.update(*(torch.cat([_left_padded(t, width, dim=2) for t in ts]) for ts in (keys, values)), i)
    return out
