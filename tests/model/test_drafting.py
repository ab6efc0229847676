"""Drafted (speculative) decoding: the n-gram drafter, and that decoding with its guesses writes
exactly what plain greedy decoding writes, in fewer passes of the LM."""

import pytest
import torch

from asemllm.model import drafting
from asemllm.model.drafting import Drafter
from asemllm.model.generation import Sampling


def test_drafter_guesses_what_most_sequences_after_the_longest_known_run_say():
    d = Drafter([[1, 2, 3, 4, 5], [1, 2, 3, 4, 5], [9, 2, 3, 7, 7], [8, 3, 6]], key=2, length=3)
    assert d.propose([1, 2, 3], 3) == [4, 5]  # run (2, 3): 4 5 twice, 7 7 once
    assert d.propose([9, 2, 3], 1) == [4]  # the run of 2 decides, not where the sequence began
    assert d.propose([8, 3], 3) == [6]  # (8, 3) is known: its own continuation
    assert d.propose([0, 3], 3) == []  # (0, 3) is not, and past a text's first token one is not enough
    assert d.propose([1], 3) == [2, 3, 4]  # a text's first token: its run of 1
    assert d.propose([3], 3) == []  # 4 twice, 7 once, 6 once: no 60% agree
    assert d.propose([], 3) == []
    split = Drafter([[1, 2, 3], [1, 2, 4]])
    assert split.propose([1], 3) == [2] and split.propose([1, 2], 3) == []  # they agree up to 2
    with pytest.raises(ValueError, match="key 0"):
        Drafter([[1, 2]], key=0)


def test_guesses_shrink_as_rows_grow_and_stop_for_a_big_batch():
    counts = [drafting.guesses_per_row(b) for b in (1, 2, 4, 7, 13, 56)]
    assert counts == sorted(counts, reverse=True) and counts[0] == drafting.MAX_GUESSES
    assert counts[-1] < 1  # 56 rows (8 photos x 7 aspects) decode plainly


def _varied(tiny, seed):
    torch.manual_seed(seed)
    with torch.no_grad():  # large random weights: varied tokens (the fixture's LM repeats one)
        for p in tiny.lm.parameters():
            p.normal_(0, 0.5)


class _Passes:
    """Counts the LM's forward passes (a hook: the real LM runs them)."""

    def __init__(self, lm):
        self.n = 0
        lm.register_forward_hook(self.count)

    def count(self, *_):
        self.n += 1


@pytest.mark.parametrize("budget", [12, 24])  # 6 rows: 1 guess each / 3 each, more as rows end
def test_drafted_decoding_writes_what_plain_decoding_writes(tiny, monkeypatch, budget):
    """Rows end at different steps; the drafter knows the start of each row's true text and then
    a wrong turn, so guesses are kept, cut short and rejected. Every row must come out token for
    token as plain greedy decoding writes it, and the right guesses must save passes."""
    monkeypatch.setattr(drafting, "DRAFT_TOKENS", budget)
    _varied(tiny, 2)
    model = tiny.eval()
    images = torch.rand(2, 3, 64, 64)
    prompts = ["Describe.", "Critique the composition of this photo.", "Light?"] * 2
    full = model.generate_ids(images, prompts, Sampling(14, ignore_eos=True), repeat=3)
    eos = {int(full[1, 5])}
    model._eos_ids = lambda: eos
    passes = _Passes(model.lm)
    plain = model.generate_ids(images, prompts, Sampling(14), repeat=3)
    plain_passes, passes.n = passes.n, 0
    assert (plain == tiny.tokenizer.pad_token_id).any(), "no row ended early"
    # each row's first 9 tokens, then a wrong turn, after which its guesses (if any) are mostly wrong
    model.drafter = Drafter([row[:9] + [0, 0, 0] for row in full.tolist()], key=2, length=6)
    drafted = model.generate_ids(images, prompts, Sampling(14), repeat=3)
    assert torch.equal(drafted, plain)
    assert passes.n < plain_passes, (passes.n, plain_passes)
    model.drafter = None


def test_drafts_are_not_used_when_sampling_or_without_the_cache(tiny):
    _varied(tiny, 3)
    model = tiny.eval()
    images = torch.rand(1, 3, 64, 64)
    prompts = ["Describe."]
    truth = model.generate_ids(images, prompts, Sampling(10, ignore_eos=True))
    drafter = Drafter(truth.tolist(), key=2)
    passes = _Passes(model.lm)

    def count(drafts, **kwargs):
        passes.n, model.drafter = 0, drafts
        model.generate_ids(images, prompts, Sampling(10, do_sample="seed" in kwargs, ignore_eos=True), **kwargs)
        return passes.n

    assert count(drafter) < count(None)  # greedy with the cache: the true continuation is known
    for kwargs in ({"use_cache": False}, {"seed": 0}):
        assert count(drafter, **kwargs) == count(None, **kwargs), kwargs
    model.drafter = None
