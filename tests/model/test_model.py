"""Unit tests of the network on the tiny config: shapes, fusion identity, splice, decoding, stages."""

import pytest
import torch

from asemllm.model.generation import Sampling
from asemllm.model.iasm import saliency_tokens
from asemllm.model.language_model import splice_image_embeddings


def test_iasm_shapes_and_density(tiny):
    out = tiny.iasm(torch.rand(2, 3, 64, 48))
    assert out.log_density.shape == (2, 1, 64, 48)
    total = out.log_density.exp().sum(dim=(1, 2, 3))
    torch.testing.assert_close(total, torch.ones(2))
    assert out.features.shape == (2, tiny.iasm.token_dim, 8, 8)  # stride 8 of the 64 px input
    assert saliency_tokens(out.features, 4).shape == (2, 16, tiny.iasm.token_dim)


def test_centre_bias_peaks_at_centre(tiny):
    prior = tiny.iasm.prior(9, 9)
    assert prior.argmax().item() == 4 * 9 + 4


def test_ias_vit_equals_plain_vit_at_init_and_differs_with_gate(tiny):
    images = torch.rand(2, 3, 64, 64)
    sal = saliency_tokens(tiny.iasm(images).features, tiny.config.fusion.kv_grid)
    v = tiny.vision
    with torch.no_grad():
        plain = v.tower(pixel_values=(images - v.mean) / v.std).last_hidden_state[:, 1:]
        fused, detail = v(images, sal)
        assert fused.shape == (2, 64, 32) and detail is None  # no detail_layer configured
        assert (fused - plain).abs().max().item() < 1e-6
        v.fusion["0"].attn_gate.fill_(0.5)
        assert (v(images, sal)[0] - plain).abs().max().item() > 1e-3
        assert (v(images, None)[0] - plain).abs().max().item() < 1e-6  # ablation: no saliency


def test_gradients_reach_gates_then_cross_attention(tiny, two_photos):
    photos, captions = two_photos
    loss = tiny(photos, ["Describe."] * 2, captions).loss
    loss.backward()
    block = tiny.vision.fusion["1"]
    assert block.attn_gate.grad.abs().item() > 0
    assert block.mlp_gate.grad.abs().item() > 0
    # gates at 0 block the cross-attention's own gradient (Flamingo): open one and it flows
    tiny.zero_grad()
    with torch.no_grad():
        block.attn_gate.fill_(0.1)
    tiny(photos, ["Describe."] * 2, captions).loss.backward()
    assert block.q.weight.grad.abs().sum().item() > 0
    assert block.kv.weight.grad.abs().sum().item() > 0
    assert tiny.iasm.head.weight.grad.abs().sum().item() > 0  # saliency learns from captions too


def test_projector_reduces_tokens(tiny):
    out = tiny.projector(torch.rand(3, 64, 32), grid=8)
    assert out.shape == (3, 16, 64)
    with pytest.raises(ValueError, match="grid 7"):
        tiny.projector(torch.rand(3, 49, 32), grid=7)


def test_captioner_shapes(tiny, two_photos):
    photos, captions = two_photos
    embeds, log_density = tiny.encode(photos)[:2]
    assert embeds.shape == (2, tiny.num_image_tokens, 64)
    assert log_density.shape == (2, 1, 64, 64)
    prompts = ["Describe.", "Critique the light."]
    out = tiny(photos, prompts, captions)
    labels = tiny.tokenize(prompts, captions)[2]
    first = int((labels != -100).any(0).nonzero()[0])  # the earliest answer token
    assert out.logits.shape[:2] == (2, labels.shape[1] - first + 1)  # the loss's positions only
    assert out.loss.ndim == 0 and torch.isfinite(out.loss)
    assert tiny(photos, prompts).logits.shape[:2] == tiny.tokenize(prompts)[0].shape  # no answers: all


def test_loss_from_the_answer_window_equals_the_loss_over_every_position(tiny, two_photos, monkeypatch):
    """The LM's output layer runs only where the loss reads it; the loss and every gradient must be
    what the full (B, T, V) logits give, and what an LM without `logits_to_keep` gives."""
    import torch.nn.functional as F

    from asemllm.model import captioner
    from asemllm.model.generation import positions
    from asemllm.stages import set_stage

    photos, captions = two_photos
    prompts = ["Describe this photo in a few words.", "Light?"]  # prompts of different lengths
    set_stage(tiny, "finetune")
    trainable = [p for p in tiny.parameters() if p.requires_grad]

    def grads(loss):
        return torch.autograd.grad(loss, trainable, allow_unused=True)

    windowed = tiny(photos, prompts, captions).loss
    embeds, mask, labels, _, _ = tiny._embed(photos, prompts, captions)
    logits = tiny.lm(inputs_embeds=embeds, attention_mask=mask, position_ids=positions(mask)).logits
    full = F.cross_entropy(logits[:, :-1].flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100)
    assert windowed.item() == pytest.approx(full.item(), rel=1e-6)
    a, b = grads(windowed), grads(full)
    assert sum(g is not None for g in a) > 0
    for x, y in zip(a, b):  # the same parameters get a gradient, and the same one
        assert (x is None) == (y is None)
        if x is not None:
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-7)
    monkeypatch.setattr(captioner, "keeps_logits", lambda lm: False)
    assert tiny(photos, prompts, captions).loss.item() == pytest.approx(full.item(), rel=1e-6)


def test_loss_in_length_groups_equals_the_loss_of_the_whole_batch(tiny, two_photos, monkeypatch):
    """The LM runs on rows of similar length together, each group cut to its longest row; the
    loss, every gradient and each row's scored logits must be those of the whole padded batch."""
    from asemllm.model import captioner
    from asemllm.stages import set_stage

    photos, captions = two_photos
    prompts = ["Light?", "Describe " + "this photo, its light and its colours, " * 6, "Focus?",
               "Critique " + "the composition, the balance and the framing, " * 5]
    answers = [captions[0], "ok", captions[1] + " " + captions[0], "a"]
    set_stage(tiny, "finetune")
    trainable = [p for p in tiny.parameters() if p.requires_grad]

    def run(pass_cost):
        monkeypatch.setattr(captioner, "PASS_COST_TOKENS", pass_cost)
        out = tiny(photos * 2, prompts, answers)
        return out, torch.autograd.grad(out.loss, trainable, allow_unused=True)

    (whole, g_whole), (grouped, g_grouped) = run(10**9), run(0)
    lengths = tiny.tokenize(prompts, answers)[1].sum(1).tolist()
    assert len(captioner.length_groups(lengths, 0)) == 4 and max(lengths) - min(lengths) > 40
    assert grouped.loss.item() == pytest.approx(whole.loss.item(), rel=1e-6)
    assert sum(g is not None for g in g_whole) > 0
    for x, y in zip(g_grouped, g_whole):
        assert (x is None) == (y is None)
        if x is not None:
            torch.testing.assert_close(x, y, rtol=1e-5, atol=1e-7)
    assert grouped.logits.shape == whole.logits.shape
    width = whole.logits.shape[1]
    _, mask, labels = (t[:, -width:] for t in tiny.tokenize(prompts, answers))
    scored = (grouped.logits.abs().sum(-1) > 0) & (mask == 1)  # (B, W): each row's own positions its group scored
    assert (scored[:, :-1] >= (labels[:, 1:] != -100)).all()  # every answer token's predictor among them
    torch.testing.assert_close(grouped.logits[scored], whole.logits[scored], rtol=1e-5, atol=1e-5)


def test_loss_covers_only_answer_tokens(tiny):
    ids, mask, labels = tiny.tokenize(["Describe.", "A much longer prompt here."], ["ab", "c"])
    assert ids.shape == labels.shape == mask.shape
    n_eos = len(tiny.tokenizer(tiny.tokenizer.eos_token, add_special_tokens=False)["input_ids"])
    assert (labels != -100).sum(1).tolist() == [2 + n_eos, 1 + n_eos]
    assert mask[0, 0].item() == 0 and mask[1, 0].item() == 1  # left padding


def test_image_token_mismatch_raises(tiny):
    ids, _, _ = tiny.tokenize(["Describe."])
    with pytest.raises(ValueError, match=r"tokens 16, features 15"):
        splice_image_embeddings(tiny.lm, ids, torch.rand(1, 15, 64), tiny.image_token_id)


def test_kv_cache_generation_equals_no_cache(tiny):
    images = torch.rand(3, 3, 64, 64)
    prompts = ["Describe.", "Critique the composition of this photo.", "Light?"]
    for s in (Sampling(12, ignore_eos=True), Sampling(12, do_sample=True, temperature=1.5, ignore_eos=True)):
        a = tiny.generate_ids(images, prompts, s, use_cache=True, seed=3)
        b = tiny.generate_ids(images, prompts, s, use_cache=False, seed=3)
        assert a.shape == (3, 12)
        assert torch.equal(a, b)


def test_batched_generation_equals_one_by_one(tiny):
    images = torch.rand(2, 3, 64, 64)
    prompts = ["Describe.", "Critique the composition of this photo."]
    batch = tiny.generate_ids(images, prompts, Sampling(8, ignore_eos=True))
    for i in range(2):
        single = tiny.generate_ids(images[i:i + 1], prompts[i:i + 1], Sampling(8, ignore_eos=True))
        assert torch.equal(batch[i], single[0])


def test_tiny_captioner_overfits_two_real_photos(tiny, two_photos):
    from asemllm.images import to_batch
    from asemllm.stages import set_stage

    photos, captions = two_photos
    photos = to_batch(photos, 64)
    set_stage(tiny, "full")
    tiny.train()
    opt = torch.optim.AdamW([p for p in tiny.parameters() if p.requires_grad], lr=3e-3)
    prompts = ["Describe the photo."] * 2  # same prompt: only the image can tell them apart
    losses = []
    for _ in range(100):
        loss = tiny(photos, prompts, captions).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0], (losses[0], losses[-1])
    tiny.eval()
    assert tiny.generate(photos, prompts, max_new_tokens=40) == captions


@pytest.mark.parametrize("source", ["centre-bias", "random"])
def test_saliency_sources_change_the_image_embeddings(tiny, source):
    from asemllm.model.iasm import ablation_density

    images = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        for block in tiny.vision.fusion.values():
            block.attn_gate.fill_(0.5)
        base, _ = tiny.encode(images)[:2]
        tiny.config.saliency = source
        other, log_density = tiny.encode(images)[:2]
        tiny.config.saliency = "none"
        plain, none_density = tiny.encode(images)[:2]
    assert (base - other).abs().max() > 1e-4 and (base - plain).abs().max() > 1e-4
    assert log_density is not None and none_density is None
    d = ablation_density(source, torch.ones(3, 1, 8, 8))
    torch.testing.assert_close(d.mean(dim=(1, 2, 3)), torch.ones(3))
    tiny.config.saliency = "fixations"
    with pytest.raises(ValueError, match="'fixations'"):
        tiny.encode(images)[:2]


def test_rows_that_end_leave_the_batch_without_changing_the_others(tiny):
    """With the KV cache, a finished row is dropped from the batch: every row must still decode
    exactly what it decodes when all rows run to the end, then padding."""
    from asemllm.model.generation import decode

    torch.manual_seed(1)
    with torch.no_grad():  # large random weights: varied tokens (the fixture's LM repeats one)
        for p in tiny.lm.parameters():
            p.normal_(0, 0.5)
    images = torch.rand(3, 3, 64, 64)
    prompts = ["Describe.", "Critique the composition of this photo.", "Light?"]
    embeds, mask, *_ = tiny._embed(images, prompts)
    pad = tiny.tokenizer.pad_token_id
    full = decode(tiny.lm, embeds, mask, set(), pad, Sampling(12, ignore_eos=True)).tolist()

    def ends_at(eos):  # rows end wherever they first emit an eos token
        return [next((i for i, t in enumerate(row) if t in eos), len(row) - 1) for row in full]

    # a token at which the rows really end at different steps (which one depends on the weights)
    eos = next(({t} for row in full for t in row if len(set(ends_at({t}))) == 3), None)
    assert eos is not None, full
    ends = ends_at(eos)
    for use_cache in (True, False):
        out = decode(tiny.lm, embeds, mask, eos, pad, Sampling(12), use_cache=use_cache)
        assert out.shape[1] == max(ends) + 1
        for row, end, got in zip(full, ends, out.tolist()):
            assert got == row[:end + 1] + [pad] * (max(ends) - end), use_cache


@pytest.mark.parametrize("pass_cost", [10**6, 0])  # one group of rows / a group per prompt length
def test_shared_prefix_decodes_what_the_full_prompts_decode(tiny, monkeypatch, pass_cost):
    """generate_ids reads each image's chat start and image slots once for all its prompts, and
    what follows in groups of rows of similar length; every row must decode exactly what decoding
    its full prompt alone decodes (rows end at different steps)."""
    from asemllm.model import generation
    from asemllm.model.generation import decode

    monkeypatch.setattr(generation, "PASS_COST_TOKENS", pass_cost)

    torch.manual_seed(2)
    with torch.no_grad():  # large random weights: varied tokens (the fixture's LM repeats one)
        for p in tiny.lm.parameters():
            p.normal_(0, 0.5)
    images = torch.rand(2, 3, 64, 64)
    prompts = ["Describe.", "Critique the composition of this photo.", "Light?"] * 2  # 3 per image
    embeds, mask, *_ = tiny._embed(images, prompts, repeat=3)
    pad = tiny.tokenizer.pad_token_id
    full = decode(tiny.lm, embeds, mask, set(), pad, Sampling(10, ignore_eos=True))
    eos = {int(full[1, 3])}
    expected = decode(tiny.lm, embeds, mask, eos, pad, Sampling(10))
    assert (expected == pad).any(), "no row ended early: the test would not see rows leave the batch"
    with torch.no_grad():
        prefix, rest, rest_mask = tiny._prefix_embed(images, prompts, 3, None)
    assert prefix.embeds.shape[0] == 2 and prefix.rows.tolist() == [0, 0, 0, 1, 1, 1]
    assert prefix.embeds.shape[1] + rest.shape[1] < embeds.shape[1] + 1  # the prefix is not repeated
    groups = generation.length_groups(rest_mask.sum(1).tolist(), pass_cost)
    assert len(groups) == (1 if pass_cost else 3), groups
    tiny._eos_ids = lambda: eos
    for use_cache in (True, False):
        got = tiny.generate_ids(images, prompts, Sampling(10), use_cache=use_cache, repeat=3)
        assert torch.equal(got, expected), use_cache
    one = tiny.generate_ids(images[1:], prompts[4:5], Sampling(10))  # one row: prefix and rest in one pass
    assert torch.equal(one[0], expected[4, :one.shape[1]]) and (expected[4, one.shape[1]:] == pad).all()


def test_length_groups_minimise_padding_plus_passes():
    """Against every split of the rows sorted by length (the best split is one of those)."""
    import itertools
    import random

    from asemllm.model.generation import length_groups

    def cost(groups, lengths, pass_cost):
        return sum(len(g) * max(lengths[i] for i in g) + pass_cost for g in groups)

    rng = random.Random(0)
    for _ in range(200):
        lengths = [rng.randint(1, 60) for _ in range(rng.randint(1, 7))]
        pass_cost = rng.choice([0, 5, 35, 1000])
        groups = length_groups(lengths, pass_cost)
        assert sorted(i for g in groups for i in g) == list(range(len(lengths)))
        order = sorted(range(len(lengths)), key=lambda i: lengths[i])
        best = min(cost([order[a:b] for a, b in zip((0,) + cuts, cuts + (len(order),))], lengths, pass_cost)
                   for k in range(len(order)) for cuts in itertools.combinations(range(1, len(order)), k))
        assert cost(groups, lengths, pass_cost) == best, (lengths, pass_cost, groups)
    assert length_groups([10] * 6 + [90] * 6, 35) == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9, 10, 11]]
    assert length_groups([30, 31, 32], 35) == [[0, 1, 2]]
    lengths = [100, 12, 101, 10, 11]
    assert length_groups(lengths, 10**6) == [[3, 4, 1, 0, 2]]  # one pass, shortest row first
    assert length_groups(lengths, 5) == [[3, 4, 1], [0, 2]]  # 3 x 12 + 2 x 101 + 2 x 5
    assert length_groups(lengths, 0) == [[3], [4], [1], [0], [2]]  # shortest first


def test_roomy_cache_holds_what_the_dynamic_cache_holds():
    """Prefill, many one-token steps (past its room: it must grow), rows leaving, a crop from the
    base class: the keys and values seen are always those transformers' DynamicCache holds."""
    from transformers import DynamicCache

    from asemllm.model.kv_cache import ROOM, roomy_cache

    torch.manual_seed(0)
    roomy, plain = roomy_cache(), DynamicCache()

    def both(fn):
        for cache in (roomy, plain):
            fn(cache)
        for a, b in zip(roomy.layers, plain.layers):
            assert torch.equal(a.keys, b.keys) and torch.equal(a.values, b.values)
        assert roomy.get_seq_length() == plain.get_seq_length()

    def write(t, b):
        kv = [(torch.randn(b, 2, t, 4), torch.randn(b, 2, t, 4)) for _ in range(3)]  # 3 layers
        both(lambda c: [c.update(k, v, i) for i, (k, v) in enumerate(kv)])

    write(7, 5)
    for step in range(ROOM + 10):
        write(1, 5 if step < 20 else 3)
        if step == 19:  # rows 1 and 3 end
            both(lambda c: c.batch_select_indices(torch.tensor([0, 2, 4])))
    both(lambda c: c.crop(-4))
    write(1, 3)
    assert roomy.get_seq_length() == 7 + ROOM + 10 - 4 + 1


def test_merged_lora_gives_the_same_logits_with_plain_layers():
    from torch import nn

    from asemllm.models import build_model
    from asemllm.config import LoRAConfig, tiny_config
    from asemllm.model.language_model import merge_lora

    cfg = tiny_config()
    cfg.lm.lora = LoRAConfig(r=4, alpha=8, dropout=0.0)
    model = build_model(cfg).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for name, p in model.lm.named_parameters():
            if "lora_B" in name:  # B starts at zero: make the adapters change something
                p.normal_(0, 0.3)
    ids, mask, _ = model.tokenize(["Describe the light."])
    with torch.no_grad():
        before = model.lm(input_ids=ids.masked_fill(ids == model.image_token_id, 0), attention_mask=mask).logits
        assert merge_lora(model.lm) == 4 * model.lm.config.num_hidden_layers
        after = model.lm(input_ids=ids.masked_fill(ids == model.image_token_id, 0), attention_mask=mask).logits
    torch.testing.assert_close(after, before, rtol=1e-4, atol=1e-5)
    attn = model.lm.model.layers[0].self_attn
    assert all(type(getattr(attn, n)) is nn.Linear for n in ("q_proj", "k_proj", "v_proj", "o_proj"))
    assert not any("lora" in n for n, _ in model.lm.named_parameters())


def test_restricted_output_decodes_the_tokens_the_whole_vocabulary_chose(tiny, two_photos):
    """Cut to a set holding every token the whole vocabulary's greedy decoding chose, the output
    layer must give the same tokens (same prefix -> same logits -> same argmax in the set); cut
    without them, only tokens of the set come out. A cut model refuses to train."""
    from asemllm.model.generation import Sampling

    model = tiny.eval()
    photos, _ = two_photos
    prompts = ["Describe the light.", "Critique the composition."]
    whole = model.generate_ids(photos, prompts, Sampling(12, ignore_eos=True))
    chosen = sorted(set(whole.flatten().tolist()))
    model.restrict_output(chosen + [3, 5])
    assert model.lm.get_output_embeddings().weight.shape[0] == len(model.output_ids) < 20
    torch.testing.assert_close(model.generate_ids(photos, prompts, Sampling(12, ignore_eos=True)), whole)
    with pytest.raises(ValueError, match="already"):
        model.restrict_output(chosen)
    from asemllm.models import build_model
    from asemllm.config import tiny_config

    torch.manual_seed(0)
    model = build_model(tiny_config()).eval()  # the same weights, whole again
    torch.testing.assert_close(model.generate_ids(photos, prompts, Sampling(12, ignore_eos=True)), whole)
    others = [i for i in range(64) if i not in chosen]
    model.restrict_output(others)
    cut = model.generate_ids(photos, prompts, Sampling(12, ignore_eos=True))
    assert set(cut.flatten().tolist()) <= set(model.output_ids.tolist())
    with pytest.raises(ValueError, match="cannot be trained"):
        model(photos, prompts, ["soft light", "centred"])
    with pytest.raises(ValueError, match="sorted, distinct and below"):
        from asemllm.model.language_model import restrict_output
        restrict_output(model.lm, [10 ** 9])


def test_a_bf16_language_model_reads_float32_image_tokens_and_gives_float32_logits(tiny):
    """`--precision bf16` casts only the LM: the decoding step must hand it bfloat16 inputs (the
    image tokens come from the float32 vision side), keep its KV cache in bfloat16 and return
    float32 logits close to the float32 LM's; decoding with it must run end to end."""
    import copy

    from asemllm.model import generation

    tiny = tiny.eval()
    images = torch.rand(2, 3, 64, 64)
    prompts = ["Describe.", "Critique the composition of this photo."] * 2  # 2 per image
    half = copy.deepcopy(tiny)
    half.lm.to(torch.bfloat16)
    logits = {}
    for name, model, dtype in (("fp32", tiny, torch.float32), ("bf16", half, torch.bfloat16)):
        with torch.no_grad():
            prefix, rest, mask = model._prefix_embed(images, prompts, 2, None)
            logits[name], cache, _ = generation._prefill(generation._Step(model.lm), rest, mask, prefix)
        assert logits[name].dtype == torch.float32
        assert cache.layers[0].keys.dtype == dtype
    scale = logits["fp32"].abs().max()
    assert 0 < (logits["bf16"] - logits["fp32"]).abs().max() < 0.05 * scale  # bf16 keeps ~3 digits
    out = half.generate_ids(images, prompts, Sampling(6, ignore_eos=True), repeat=2)
    assert out.shape == (4, 6)
