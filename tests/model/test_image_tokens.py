"""What the image tokens carry besides the final ViT features: an early block's local statistics,
the saliency density of each patch, and an auxiliary head that trains them on the critic's claims.
Tiny random models on real photos: shape and logic, no result."""

import math

import pytest
import torch

from asemllm.model.projector import cells
from asemllm.models import load_model, save_model


def _tiny(**kw):
    from asemllm.models import build_model
    from asemllm.config import tiny_config

    cfg = tiny_config()
    cfg.vision.detail_layer = kw.pop("detail_layer", 0)
    cfg.projector.saliency_cells = kw.pop("saliency_cells", True)
    cfg.aux_targets = kw.pop("aux_targets", 3)
    for k, v in kw.items():
        setattr(cfg, k, v)
    torch.manual_seed(0)
    return build_model(cfg)


def test_cells_are_the_r_by_r_neighbourhoods():
    x = torch.arange(16.0).view(1, 16, 1)  # a 4x4 grid, each token holding its index
    out = cells(x, grid=4, r=2)  # (1, 4 cells, 4 patches, 1)
    assert out.shape == (1, 4, 4, 1)
    assert out[0, 0, :, 0].tolist() == [0, 1, 4, 5]
    assert out[0, 3, :, 0].tolist() == [10, 11, 14, 15]


def test_detail_and_saliency_reach_the_image_tokens(two_photos):
    photos, _ = two_photos
    model = _tiny()
    embeds, _ = model.encode(photos)[:2]
    assert embeds.shape == (2, model.num_image_tokens, 64)
    # the saliency cells are part of the input: a different density gives different tokens
    g = model.vision.grid
    patches = torch.rand(2, g * g, model.vision.width)
    detail = torch.rand(2, g * g, model.vision.width)
    flat, peaked = torch.ones(2, g * g), torch.zeros(2, g * g)
    peaked[:, 0] = g * g  # all the mass on the top-left patch
    a = model.projector(patches, g, detail, flat)
    b = model.projector(patches, g, detail, peaked)
    assert not torch.allclose(a, b)
    # so are the detail statistics
    assert not torch.allclose(a, model.projector(patches, g, detail * 2, flat))


def test_patch_density_is_uniform_without_saliency(two_photos):
    photos, _ = two_photos
    model = _tiny(saliency="none")
    images = model.see(photos).pixels
    dens = model._patch_density(None, images)
    assert dens.shape == (2, model.vision.grid ** 2) and torch.equal(dens, torch.ones_like(dens))
    sal = _tiny()
    out = sal.iasm(images)
    d = sal._patch_density(out.grid_density, images)
    assert torch.allclose(d.mean(1), torch.ones(2), atol=1e-4)  # a density: mean 1 over the patches


def test_detail_layer_out_of_range_is_named():
    with pytest.raises(ValueError, match="detail_layer 9"):
        _tiny(detail_layer=9)


def test_aux_loss_adds_to_the_lm_loss_and_skips_unknown_targets(two_photos):
    photos, captions = two_photos
    model = _tiny(aux_targets=3, aux_weight=0.5)
    targets = torch.tensor([[1.0, math.nan, 0.0], [math.nan, math.nan, 1.0]])
    prompts = ["Describe."] * 2
    lm_only = model(photos, prompts, captions).loss
    both = model(photos, prompts, captions, targets=targets).loss
    _, _, logits = model.encode(photos)
    assert both.item() == pytest.approx(lm_only.item() + 0.5 * model.head.loss(logits, targets).item(), rel=1e-5)
    model.zero_grad()
    model(photos, prompts, targets=targets).loss.backward()  # the aux loss alone (no answers)
    grad = model.head.tokens.weight.grad  # (targets, n*D)
    assert grad[1].abs().sum() == 0  # nobody knows target 1: no gradient
    assert grad[0].abs().sum() > 0 and grad[2].abs().sum() > 0
    assert model.projector.detail_norm.weight.grad.abs().sum() > 0


def test_aux_errors_name_the_problem(two_photos):
    photos, captions = two_photos
    with pytest.raises(ValueError, match="no auxiliary head"):
        _tiny(aux_targets=0)(photos, ["Describe."] * 2, captions, targets=torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"targets \(2, 4\), expected \(2, 3\)"):
        _tiny(aux_targets=3)(photos, ["Describe."] * 2, captions, targets=torch.zeros(2, 4))
    with pytest.raises(ValueError, match="aux_token needs an auxiliary head"):
        _tiny(aux_targets=0, aux_token=True)


def test_aux_token_is_the_heads_prediction_and_the_lm_reads_it(two_photos):
    photos, captions = two_photos
    model = _tiny(aux_targets=3, aux_token=True)
    plain = _tiny(aux_targets=3)
    assert model.num_image_tokens == plain.num_image_tokens + 1
    tokens, _, logits = model.encode(photos)
    assert torch.allclose(tokens[:, -1], model.head.embed(torch.sigmoid(logits)))
    # the generated prompt has a slot for it, and the LM loss reaches the head through it
    model.zero_grad()
    model(photos, ["Describe."] * 2, captions).loss.backward()
    assert model.head.embed.weight.grad.abs().sum() > 0 and model.head.tokens.weight.grad.abs().sum() > 0
    assert len(model.generate(photos, ["Describe."] * 2, max_new_tokens=3)) == 2


def test_batch_targets_fill_unknowns_with_nan():
    from asemllm.training.samples import Sample, batch_targets

    batch = [Sample("a.jpg", "focus", "x", (1, None, 0)), Sample("b.jpg", "focus", "y")]
    t = batch_targets(batch, 3)
    assert t[0, 0] == 1 and t[0, 2] == 0 and t[0, 1].isnan() and t[1].isnan().all()
    assert batch_targets(batch, 0) is None
    with pytest.raises(ValueError, match="a.jpg: 3 targets"):
        batch_targets(batch, 4)


def test_save_and_load_keep_the_new_parts(tmp_path, two_photos):

    photos, _ = two_photos
    model = _tiny().eval()
    with torch.no_grad():  # move them off their initial values so a lost tensor would show
        model.projector.detail_norm.weight.add_(0.3)
        model.head.tokens.bias.add_(0.7)
    save_model(model, tmp_path / "m")
    again = load_model(tmp_path / "m").eval()
    with torch.no_grad():
        assert torch.equal(model.encode(photos).embeds, again.encode(photos).embeds)
    assert torch.equal(model.head.tokens.bias, again.head.tokens.bias)


def test_a_deep_copy_fuses_and_captures_with_its_own_blocks(two_photos):
    """The ViT hooks find their IASViT through the hooked block, so a copy uses the copy's fusion
    blocks and detail capture, and the original keeps its own."""
    import copy

    photos, _ = two_photos
    model = _tiny(detail_layer=0).eval()
    for block in model.vision.fusion.values():
        block.attn_gate.data.fill_(1.0)  # gates open: the fusion changes the tokens
    twin = copy.deepcopy(model)
    with torch.no_grad():
        before = model.encode(photos).embeds
        assert torch.allclose(twin.encode(photos).embeds, before, atol=1e-6)
        for block in twin.vision.fusion.values():
            block.attn_gate.data.zero_()
        assert not torch.allclose(twin.encode(photos).embeds, before, atol=1e-4)
        assert torch.allclose(model.encode(photos).embeds, before, atol=1e-6)
        _, detail = twin.vision(twin.see(photos).pixels, None)  # the copy's capture lands in the copy
        assert detail is not None and model.vision._captured == {}
