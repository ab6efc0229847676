"""The shipped IASM: predictions on real photos, the CLI, and the evaluation code on real fixations."""

import json

import numpy as np
import pytest

from asemllm.cli import main


@pytest.fixture(scope="module")
def iasm():
    from asemllm.saliency.predict import load_iasm

    return load_iasm()


def test_bundled_iasm_beats_centre_bias_on_nus_validation(iasm, shared_data):
    """On 20 held-out NUS photos, the shipped IASM's NSS beats the centre-bias baseline's."""
    from asemllm.images import load_image
    from asemllm.saliency.baselines import CentreBias
    from asemllm.saliency.datasets import read_fixations
    from asemllm.saliency.evaluate import _fix, eval_frame, scaled_points
    from asemllm.saliency.metrics import nss
    from asemllm.saliency.predict import predict_maps

    root = shared_data / "saliency" / "nus_scene"
    centre = CentreBias.fit(read_fixations("nus", root, split="train").records)
    ours, base = [], []
    for r in read_fixations("nus", root, split="val").records[:20]:
        shape = eval_frame(r.size, 256)
        fix = _fix(scaled_points(r, shape), shape)
        (m,) = predict_maps(iasm, [load_image(r.image)], [shape])
        assert m.shape == shape and m.sum() == pytest.approx(1.0)
        ours.append(nss(m, fix))
        base.append(nss(centre(shape), fix))
    assert np.mean(ours) > np.mean(base) + 0.2, (np.mean(ours), np.mean(base))


def test_predict_cli_writes_maps_at_photo_size_and_skips_bad_files(shared_data, tmp_path):
    from PIL import Image

    photos = tmp_path / "in"
    photos.mkdir()
    src = shared_data / "photos" / "mate" / "LadyBird.jpg"
    (photos / "ladybird.jpg").symlink_to(src)
    (photos / "broken.jpg").write_bytes(b"")  # zero bytes: must be skipped, not fatal
    assert main(["saliency", "predict", str(photos), "--out", str(tmp_path / "out")]) == 0
    grey = Image.open(tmp_path / "out" / "ladybird.png")
    assert grey.mode == "L" and grey.size == Image.open(src).size
    assert np.asarray(grey).max() == 255
    assert Image.open(tmp_path / "out" / "ladybird_overlay.jpg").size == grey.size
    assert not (tmp_path / "out" / "broken.png").exists()


def test_evaluation_on_salicon_examples(shared_data):
    """The evaluation code end to end on the 10 SALICON photos (the cheap models only)."""
    from asemllm.saliency.baselines import CentreBias
    from asemllm.saliency.datasets import read_fixations
    from asemllm.saliency.evaluate import MapMakers, evaluate_set

    nus = read_fixations("nus", shared_data / "saliency" / "nus_scene", split="train")
    centre = CentreBias.fit(nus.records)
    data = read_fixations("salicon", shared_data / "saliency" / "salicon_examples")
    makers = MapMakers(centre, models=("iasm", "centre_bias", "spectral_residual"))
    res = evaluate_set(data.records[:4], "salicon", makers, centre, max_side=256)
    assert res["photos"] == 4 and not res["skipped"]
    for name in ("iasm", "centre_bias", "spectral_residual"):
        m = res["models"][name]
        assert set(m) == {"auc_judd", "auc_borji", "sauc", "nss", "cc", "kld", "sim", "ig"}
        assert m["auc_judd"]["ci95"][0] <= m["auc_judd"]["mean"] <= m["auc_judd"]["ci95"][1]
    assert res["models"]["centre_bias"]["ig"]["mean"] == pytest.approx(0.0, abs=1e-9)
    assert res["loo"]["humans"]["nss"]["mean"] > res["loo"]["spectral_residual"]["nss"]["mean"]
    json.dumps(res)  # the report is plain JSON
