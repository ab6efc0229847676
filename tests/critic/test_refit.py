"""Refitting a trained critic's auxiliary head on its own image tokens (asemllm critic head).
A tiny random model on real photos: the mechanics (what trains, what is kept, what is held out)."""

import pytest
import torch
from PIL import Image

from asemllm.critic import refit as H
from asemllm.data.records import CritiqueRecord, write_jsonl
from asemllm.models import load_model, save_model
from asemllm.critic.claim_head import probabilities

PHOTOS = ["mate/LadyBird.jpg", "mate/YellowFlower.jpg", "misc/grace_hopper.jpg", "mate/Storm.jpg"]


def _records(shared_data, copies=3, second=None):
    """Each photo `copies` times (as the critic data holds edited versions); the first target 1
    everywhere (so the held-out photo's loss falls too), the second `second` (None: unknown)."""
    return [CritiqueRecord(id=f"{p}-{k}", image=str(shared_data / "photos" / p), split="train",
                           critiques={"focus": ["The subject is sharp."]}, meta={"photo": p, "targets": [1.0, second]})
            for p in PHOTOS for k in range(copies)]


def _model(tmp_path, **kw):
    from asemllm.models import build_model
    from asemllm.config import tiny_config

    cfg = tiny_config()
    cfg.aux_targets, cfg.aux_hidden = 2, 16
    for k, v in kw.items():
        setattr(cfg, k, v)
    torch.manual_seed(0)
    save_model(build_model(cfg), tmp_path / "model")
    return tmp_path / "model"


def test_held_out_photos_keep_all_their_versions_together(shared_data):
    records = _records(shared_data)
    train, held = H.split_by_photo(records, holdout=0.25, seed=1)
    assert len(held) == 3 and sorted(train + held) == list(range(len(records)))
    assert len({records[i].meta["photo"] for i in held}) == 1
    assert not {records[i].meta["photo"] for i in held} & {records[i].meta["photo"] for i in train}


def test_refit_trains_the_head_only_and_saves_it(shared_data, tmp_path):

    write_jsonl(_records(shared_data), tmp_path / "train.jsonl")
    before = load_model(_model(tmp_path)).state_dict()
    report = H.refit_model(str(tmp_path / "model"), str(tmp_path / "train.jsonl"), out=str(tmp_path / "refit"),
                           epochs=30, holdout=0.25)
    after = load_model(tmp_path / "refit").state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("head.tokens.") for k in changed)
    assert report["train_records"] == 9 and report["held_out_photos_records"] == 3
    assert 0 < report["best_epoch"] <= 30
    assert report["held_out_loss"]["after"] < report["held_out_loss"]["before"]


def test_refit_learns_the_training_photos(shared_data):
    """On fixed inputs the head alone fits the targets of its training rows (the loss falls)."""
    torch.manual_seed(0)
    x, y = torch.randn(12, 8), torch.tensor([[float(i % 2), float("nan")] for i in range(12)])
    head = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.GELU(), torch.nn.Linear(16, 2))
    report = H.refit(head, x, y, train=list(range(12)), held=list(range(12)), epochs=40, lr=1e-2, batch=4)
    assert report["held_out_loss"]["after"] < 0.5 * report["held_out_loss"]["before"]
    assert report["held_out_accuracy"]["after"] == 1.0


def test_refit_refuses_what_it_cannot_refit(shared_data, tmp_path):
    write_jsonl(_records(shared_data), tmp_path / "train.jsonl")
    with pytest.raises(ValueError, match="aux_token"):
        H.refit_model(str(_model(tmp_path, aux_token=True)), str(tmp_path / "train.jsonl"))
    with pytest.raises(ValueError, match="no auxiliary head"):
        H.refit_model(str(_model(tmp_path, aux_targets=0, aux_hidden=0)), str(tmp_path / "train.jsonl"))


def test_refit_with_stats_adds_a_statistics_branch_and_keeps_the_rest(shared_data, tmp_path):
    from asemllm.stages import set_stage

    write_jsonl(_records(shared_data), tmp_path / "train.jsonl")
    before = load_model(_model(tmp_path)).state_dict()
    report = H.refit_model(str(tmp_path / "model"), str(tmp_path / "train.jsonl"), out=str(tmp_path / "refit"),
                           epochs=10, holdout=0.25, stats=True)
    model = load_model(tmp_path / "refit").eval()
    after = model.state_dict()
    assert report["stats"] and model.config.aux_stats and model.head.stats is not None
    assert {k for k in after if k not in before} == {k for k in after if k.startswith("head.stats.")}
    assert all(torch.equal(before[k], after[k]) for k in before)  # the tokens' head too: only the branch trains
    assert report["held_out_loss"]["after"] <= report["held_out_loss"]["before"]
    photos = [str(shared_data / "photos" / p) for p in PHOTOS[:2]]
    again = load_model(tmp_path / "refit").eval()
    assert torch.allclose(probabilities(model, photos), probabilities(again, photos))
    rows = {r.module: r for r in set_stage(model, "finetune")}  # a joint run would train the branch too
    assert rows["head.stats"].trainable == rows["head.stats"].total > 0


def test_a_head_trained_on_other_statistics_is_refused_by_name(shared_data, tmp_path):
    from safetensors.torch import load_file, save_file


    write_jsonl(_records(shared_data), tmp_path / "train.jsonl")
    H.refit_model(str(_model(tmp_path)), str(tmp_path / "train.jsonl"), out=str(tmp_path / "refit"),
                  epochs=1, holdout=0.25, stats=True)
    weights = tmp_path / "refit" / "model.safetensors"
    state = load_file(weights)
    state["head.stats.0.weight"] = state["head.stats.0.weight"][:, :-8].contiguous()  # an older, shorter vector
    save_file(state, weights)
    with pytest.raises(ValueError, match="trained on .* photo statistics.*critic head --model .* --stats"):
        load_model(tmp_path / "refit")


def test_refit_with_native_decides_its_targets_from_the_native_statistics_alone(shared_data, tmp_path):
    from asemllm.critic.native import NATIVE_DIM, native_stats

    write_jsonl(_records(shared_data), tmp_path / "train.jsonl")
    H.refit_model(str(_model(tmp_path)), str(tmp_path / "train.jsonl"), out=str(tmp_path / "stats"),
                  epochs=3, holdout=0.25, stats=True)
    before = load_model(tmp_path / "stats").eval()
    report = H.refit_model(str(tmp_path / "stats"), str(tmp_path / "train.jsonl"), out=str(tmp_path / "native"),
                           epochs=10, holdout=0.25, native=[0])
    model = load_model(tmp_path / "native").eval()
    old, after = before.state_dict(), model.state_dict()
    assert tuple(report["native"]) == model.config.aux_native == (0,) and model.config.aux_stats
    assert {k for k in after if k not in old} == {"head.native.weight", "head.native.bias"}
    assert after["head.native.weight"].shape == (1, NATIVE_DIM)
    assert all(torch.equal(old[k], after[k]) for k in old)  # only the new branch trains
    photos = [str(shared_data / "photos" / p) for p in PHOTOS[:2]]
    with torch.no_grad():
        p, p0 = probabilities(model, photos), probabilities(before, photos)
        own = torch.sigmoid(model.head.native(native_stats([Image.open(f).convert("RGB") for f in photos])))
    assert torch.allclose(p[:, 0], own[:, 0], atol=1e-6)  # target 0: the native branch alone
    # the other target does not move, up to the last float digits: the head's input is wider now, and
    # the product over its slice may sum in another order (seen on an AMD CPU, not on an Intel one)
    torch.testing.assert_close(p[:, 1], p0[:, 1], rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="one new head branch at a time"):
        H.refit_model(str(tmp_path / "native"), str(tmp_path / "train.jsonl"), stats=True, native=[0])
    with pytest.raises(ValueError, match=r"aux_native targets \[5\] are not among the head's 2"):
        H.refit_model(str(tmp_path / "stats"), str(tmp_path / "train.jsonl"), native=[5])


def test_the_critics_native_branch_decides_the_noise_claims():
    from asemllm.critic.teacher import ALL_RULES

    assert sorted(ALL_RULES[i].id for i in H.noise_rules()) == ["noise.high", "noise.low"]


def test_refit_with_geometry_decides_its_targets_from_the_saliency_geometry_alone(shared_data, tmp_path):
    from asemllm.critic.photo_stats import SHAPE, shape_columns

    data = str(tmp_path / "train.jsonl")
    write_jsonl(_records(shared_data, second=0.0), data)
    with pytest.raises(ValueError, match="reads the photo statistics; refit with --stats first"):
        H.refit_model(str(_model(tmp_path)), data, geometry=[1])
    H.refit_model(str(tmp_path / "model"), data, out=str(tmp_path / "stats"), epochs=3, holdout=0.25, stats=True)
    before = load_model(tmp_path / "stats").eval()
    report = H.refit_model(str(tmp_path / "stats"), data, out=str(tmp_path / "geometry"), epochs=10, holdout=0.25,
                           geometry=[1])
    model = load_model(tmp_path / "geometry").eval()
    old, after = before.state_dict(), model.state_dict()
    assert tuple(report["geometry"]) == model.config.aux_geometry == (1,)
    assert {k for k in after if k not in old} == {k for k in after if k.startswith("head.geometry.")}
    assert all(torch.equal(old[k], after[k]) for k in old)  # only the new branch trains
    assert report["held_out_loss"]["after"] <= report["held_out_loss"]["before"]
    photos = [str(shared_data / "photos" / p) for p in PHOTOS[:2]]
    with torch.no_grad():
        x = model.head.inputs(model.see(photos))
        shape = x[:, [model.head.token_width + c for c in shape_columns()]]  # (2, len(SHAPE))
        p, p0 = probabilities(model, photos), probabilities(before, photos)
    assert shape.shape == (2, len(SHAPE))
    assert torch.allclose(p[:, 1], torch.sigmoid(model.head.geometry(shape))[:, 0], atol=1e-6)
    torch.testing.assert_close(p[:, 0], p0[:, 0], rtol=0, atol=1e-6)  # the other target does not move
    with pytest.raises(ValueError, match="one new head branch at a time"):
        H.refit_model(str(tmp_path / "stats"), data, native=[0], geometry=[1])
    with pytest.raises(ValueError, match=r"aux_geometry targets \[5\] are not among the head's 2"):
        H.refit_model(str(tmp_path / "stats"), data, geometry=[5])
    H.refit_model(str(tmp_path / "stats"), data, epochs=1, holdout=0.25, native=[1])
    with pytest.raises(ValueError, match=r"targets \[1\] are in both aux_native and aux_geometry"):
        H.refit_model(str(tmp_path / "stats"), data, geometry=[1])


def test_a_model_without_saliency_gets_no_geometry_branch(shared_data, tmp_path):
    """Without a saliency map the geometry is the uniform map's: a branch over it would learn base rates."""

    data = str(tmp_path / "train.jsonl")
    write_jsonl(_records(shared_data, second=0.0), data)
    path = str(_model(tmp_path, saliency="none"))
    report = H.finish(path, data, holdout=0.25, native=[0])
    assert "geometry" not in report and "native" in report
    model = load_model(path)
    assert model.config.aux_geometry == () and model.head.geometry is None and model.config.aux_stats
    with pytest.raises(ValueError, match="no saliency map"):
        H.refit_model(path, data, geometry=[1])


def test_the_critics_geometry_branch_decides_placement_size_and_balance():
    from asemllm.critic.teacher import ALL_RULES

    ids = [ALL_RULES[i].id for i in H.geometry_rules()]
    assert {i.split(".")[0] for i in ids} == {"placement", "subject", "balance"} and len(ids) == 10


def test_finish_makes_the_models_of_the_four_refits_and_compact_from_one_encoding(shared_data, tmp_path,
                                                                                  monkeypatch):
    """`critic finish` = `critic head`, `--stats`, `--native`, `--geometry` and `critic compact` in
    turn, with each training photo encoded once instead of five times."""
    import shutil

    from asemllm.models import load_model
    from asemllm.critic.compact import compact
    from asemllm.model.captioner import AestheticCaptioner

    encoded = []
    see = AestheticCaptioner.see
    monkeypatch.setattr(AestheticCaptioner, "see", lambda self, images: encoded.extend(images) or see(self, images))
    data, ranks = str(tmp_path / "train.jsonl"), {"projector.mlp.0": 32, "head.tokens.0": 8}
    write_jsonl(_records(shared_data, second=0.0), data)
    shutil.copytree(_model(tmp_path), tmp_path / "steps")
    kw = {"epochs": None, "holdout": 0.25}
    steps = [H.refit_model(str(tmp_path / "steps"), data, **kw),
             H.refit_model(str(tmp_path / "steps"), data, stats=True, **kw),
             H.refit_model(str(tmp_path / "steps"), data, native=[0], **kw),
             H.refit_model(str(tmp_path / "steps"), data, geometry=[1], **kw)]
    compact(str(tmp_path / "steps"), data, str(tmp_path / "steps-compact"), ranks)
    assert len(encoded) == 5 * 12
    encoded.clear()

    report = H.finish(str(tmp_path / "model"), data, str(tmp_path / "compact"), holdout=0.25, native=[0], geometry=[1],
                      ranks=ranks)
    assert len(encoded) == 12 and report["photos"] == 12
    for name, step in zip(("head", "stats", "native", "geometry"), steps):
        assert report[name] == {k: v for k, v in step.items() if k not in ("model", "stats", "native", "geometry")}
    one, other = (load_model(tmp_path / d).state_dict() for d in ("model", "steps"))
    assert one.keys() == other.keys() and all(torch.equal(one[k], other[k]) for k in one)
    one, other = (load_model(tmp_path / d).state_dict() for d in ("compact", "steps-compact"))
    assert one.keys() == other.keys()
    for k in one:
        torch.testing.assert_close(one[k], other[k], rtol=1e-4, atol=1e-5, msg=k)
    assert report["compact"]["ranks"] == ranks
    # and hands the horizon's claims to the measured tilt, in the full and the compact model
    assert load_model(tmp_path / "model").config.aux_measured == load_model(tmp_path / "compact").config.aux_measured \
        == tuple(H.horizon_rules())


def test_finish_refuses_a_head_refitted_already(shared_data, tmp_path):
    write_jsonl(_records(shared_data), tmp_path / "train.jsonl")
    H.refit_model(str(_model(tmp_path)), str(tmp_path / "train.jsonl"), epochs=1, holdout=0.25, stats=True)
    with pytest.raises(ValueError, match="branches already"):
        H.finish(str(tmp_path / "model"), str(tmp_path / "train.jsonl"))
