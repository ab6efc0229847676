"""The trainable-parameter table tells the truth: marked parts change after a step, others do not."""

import pytest
import torch

from asemllm.stages import STAGES, format_table, groups, set_stage

# Parameters that no loss can move, whatever the stage: the ViT's mask token is only used in
# masked-image pretraining, and a key bias adds the same constant to all scores of a query,
# which the softmax cancels.
INERT = ("embeddings.mask_token", "k_proj.bias", "attention.key.bias")


@pytest.fixture(params=["plain", "aux"])
def model(request, tiny):
    """The tiny model, and one with every optional part (detail statistics, saliency cells,
    auxiliary head and token): all of them must sit in a group that the stages switch."""
    if request.param == "plain":
        return tiny
    from asemllm.models import build_model
    from asemllm.config import tiny_config

    cfg = tiny_config()
    cfg.vision.detail_layer, cfg.projector.saliency_cells, cfg.aux_targets, cfg.aux_token = 0, True, 3, True
    torch.manual_seed(0)
    return build_model(cfg)


@pytest.mark.parametrize("stage", STAGES)
def test_trainable_parts_change_and_frozen_parts_do_not(model, two_photos, stage):
    tiny = model
    photos, captions = two_photos
    rows = {r.module: r for r in set_stage(tiny, stage)}
    with torch.no_grad():  # open the gates so every marked part sits on the loss's path
        for block in tiny.vision.fusion.values():
            block.attn_gate.fill_(0.5)
            block.mlp_gate.fill_(0.5)
        for name, p in tiny.lm.named_parameters():
            if "lora_B" in name:  # LoRA B starts at 0, which would hide A's gradient
                p.normal_(0, 0.02)
    before = {n: [p.detach().clone() for p in ps] for n, ps in groups(tiny).items()}
    opt = torch.optim.SGD([p for p in tiny.parameters() if p.requires_grad], lr=0.1)
    tiny.train()
    tiny(photos, ["Describe."] * 2, captions).loss.backward()
    opt.step()
    names = {id(p): n for n, p in tiny.named_parameters()}
    for group, params in groups(tiny).items():
        for old, new in zip(before[group], params):
            if names[id(new)].endswith(INERT):
                continue
            changed = not torch.equal(old, new)
            assert changed == (rows[group].trainable > 0), (stage, names[id(new)])


def test_table_lists_every_parameter(tiny):
    rows = set_stage(tiny, "align")
    assert sum(r.total for r in rows) == sum(p.numel() for p in tiny.parameters())
    table = format_table(rows)
    assert "vision.fusion" in table and "yes" in table and "no" in table
    with pytest.raises(ValueError, match="'pretrain'"):
        set_stage(tiny, "pretrain")
