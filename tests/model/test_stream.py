"""Continuous batching (`generation.decode_stream`, `AestheticCaptioner.stream_ids`): a stream of
photos, each with its own prompts, decoded through one pool of live rows that is refilled as rows
end, writes for every photo exactly what the batched path writes for it."""

import pytest
import torch

from asemllm.model import drafting
from asemllm.model.drafting import Drafter
from asemllm.model.generation import Sampling

PROMPTS = ["Describe.", "Critique the composition of this photo.", "Light?"]


def _varied(tiny, seed):
    torch.manual_seed(seed)
    with torch.no_grad():  # large random weights: varied tokens (the fixture's LM repeats one)
        for p in tiny.lm.parameters():
            p.normal_(0, 0.5)
    return tiny.eval()


def _rows(ids: torch.Tensor, model) -> list[list[int]]:
    """A batch's (B, W) tokens -> each row's tokens up to its end of turn (the padding after it
    cut off), or all of them when it ran to the width (max_new_tokens)."""
    ends, out = model._eos_ids(), []
    for row in ids.tolist():
        cut = next((i + 1 for i, t in enumerate(row) if t in ends), len(row))
        out.append(row[:cut])
    return out


def _stream(model, images, prompts_of, sampling, rows, order=None):
    requests = [(i, images[i:i + 1], prompts_of(i), None) for i in range(len(images))]
    out = list(model.stream_ids(iter(requests), sampling, rows=rows))
    if order is not None:
        order.extend(tag for tag, _ in out)
    return dict(out)


@pytest.fixture
def model(tiny):
    model = _varied(tiny, 2)
    yield model
    model.drafter = None


def _with_early_ends(model, images, prompts_of, n):
    """Makes three tokens ends of turn, so that rows end at different steps (the random LM has no
    end of its own) -> the rows' tokens without ends, to draft from."""
    full = [model.generate_ids(images[i:i + 1], prompts_of(i), Sampling(n, ignore_eos=True),
                               repeat=len(prompts_of(i))) for i in range(len(images))]
    eos = {int(full[0][1, 4]), int(full[1][0, 8]), int(full[-1][-1, 1])}
    model._eos_ids = lambda: eos
    return [row for f in full for row in f.tolist()]


@pytest.mark.parametrize("rows", [3, 8])  # smaller than a photo; a photo or two and some
@pytest.mark.parametrize("drafts", [False, True])
def test_stream_writes_what_the_batch_writes_for_every_photo(model, rows, drafts, monkeypatch):
    """Five photos of 2 or 3 prompts each; rows end at different steps (an end of turn, or
    max_new_tokens), so the pool drops rows and admits photos mid-decoding. Each photo's tokens from
    the stream are those of the photo decoded alone and of the photos decoded as one batch."""
    monkeypatch.setattr(drafting, "DRAFT_TOKENS", 24)  # a few guesses a row even with 12 rows
    images = torch.rand(5, 3, 64, 64)
    prompts_of = lambda i: PROMPTS[:2 + i % 2]  # noqa: E731
    full = _with_early_ends(model, images, prompts_of, 12)
    if drafts:  # each row's first 7 tokens, then a wrong turn: guesses kept, cut short and rejected
        model.drafter = Drafter([row[:7] + [0, 0] for row in full], key=2, length=5)
    s = Sampling(12)
    order = []
    streamed = _stream(model, images, prompts_of, s, rows, order)
    assert sorted(order) == list(range(5)) and set(streamed) == set(range(5))
    lengths = set()
    for i in range(5):
        alone = _rows(model.generate_ids(images[i:i + 1], prompts_of(i), s, repeat=len(prompts_of(i))), model)
        assert streamed[i] == alone, i
        lengths |= {len(r) for r in alone}
    assert len(lengths) >= 3 and 12 in lengths, lengths  # ended early at different steps, and at the limit
    # the whole batch at once (2 prompts each: one repeat for all), as critique_batch decodes it
    two = lambda i: PROMPTS[:2]  # noqa: E731
    batch = _rows(model.generate_ids(images, [p for i in range(5) for p in two(i)], s, repeat=2), model)
    streamed = _stream(model, images, two, s, rows)
    assert [r for i in range(5) for r in streamed[i]] == batch


def test_a_row_that_ends_at_its_first_token_and_a_pool_smaller_than_a_photo(model):
    """max_new_tokens 1: every row ends at admission, before any decoding step; a pool of 1 row
    still takes each photo whole, one after the other."""
    images = torch.rand(3, 3, 64, 64)
    s = Sampling(1)
    streamed = _stream(model, images, lambda i: PROMPTS, s, rows=1)
    for i in range(3):
        assert streamed[i] == _rows(model.generate_ids(images[i:i + 1], PROMPTS, s, repeat=3), model)
        assert all(len(r) == 1 for r in streamed[i])


def test_the_pool_is_refilled_before_its_longest_row_ends(model):
    """A photo whose rows run to the limit and photos whose rows end early: with room for two
    photos, the later photos finish while the long one is still decoding (their rows took the
    freed slots), and fewer passes run than photo after photo."""
    images = torch.rand(4, 3, 64, 64)
    prompts_of = lambda i: PROMPTS[:2]  # noqa: E731
    _with_early_ends(model, images, prompts_of, 16)
    s = Sampling(16)
    lengths = {i: max(map(len, model.generate_ids(images[i:i + 1], PROMPTS[:2], s, repeat=2).tolist()))
               for i in range(4)}
    passes = []
    model.lm.register_forward_hook(lambda *_: passes.append(1))
    order = []
    _stream(model, images, prompts_of, s, rows=4, order=order)
    streamed_passes, passes[:] = len(passes), []
    for i in range(4):
        model.generate_ids(images[i:i + 1], PROMPTS[:2], s, repeat=2)
    assert streamed_passes < len(passes), (streamed_passes, len(passes), lengths)
    if lengths[0] > min(lengths.values()):  # the first photo is not the quickest: another overtakes it
        assert order[0] != 0, (order, lengths)


def test_sampling_streams_too(model):
    """Sampled rows are drawn in another order than a batch's, so only their shape is checked."""
    images = torch.rand(3, 3, 64, 64)
    out = dict(model.stream_ids(((i, images[i:i + 1], PROMPTS, None) for i in range(3)),
                                Sampling(6, do_sample=True, ignore_eos=True), rows=4, seed=0))
    assert sorted(out) == [0, 1, 2] and all(len(rows) == 3 and all(len(r) == 6 for r in rows)
                                            for rows in out.values())


def test_critique_stream_gives_the_records_of_critique_batch_in_order(model):
    """The critic over a stream of photos (read and encoded two at a time, 3 aspects decoding at
    once) writes each photo the texts and measurements that one batch of all of them gives, in the
    photos' order, with per-photo timings that add up."""
    import numpy as np
    from PIL import Image
    from skimage import data

    from asemllm.critic.api import Critic

    critic = Critic(model)
    photos = [Image.fromarray(getattr(data, n)()).convert("RGB").resize((96, 72))
              for n in ("astronaut", "coffee", "chelsea")]
    aspects = ["composition", "focus"]
    names = [f"p{i}.jpg" for i in range(3)]
    batch = critic.critique_batch(photos, aspects=aspects, names=names)
    streamed = list(critic.critique_stream(iter(photos), aspects=aspects, names=iter(names), chunk=2, rows=3))
    assert [r["image"] for r in streamed] == names
    for got, want in zip(streamed, batch):
        assert list(got["critique"]) == aspects and got["critique"] == want["critique"]
        assert {k: a["level"] for k, a in got["attributes"].items()} == \
            {k: a["level"] for k, a in want["attributes"].items()}
        assert got["saliency"]["peak"] == want["saliency"]["peak"]
        t = got["timings"]
        assert t["total"] == pytest.approx(t["saliency"] + t["attributes"] + t["critique"], abs=2e-3)
    assert len({len(t) for r in streamed for t in r["critique"].values()}) > 1  # texts of different lengths
    assert np.isfinite([r["timings"]["total"] for r in streamed]).all()
