"""`hf:<model id or local path>` backbones: any transformers vision tower or causal LM.

With network access the id is fetched from the Hugging Face Hub as usual; offline, a local folder
or an already-cached id works.
"""

from __future__ import annotations

import torch
from torch import nn

# model_type of the checkpoint -> the vision-tower class to load from it (a full CLIP/SigLIP
# checkpoint holds a text tower too; only the vision tower is kept).
_TOWERS = {"clip": "CLIPVisionModel", "clip_vision_model": "CLIPVisionModel",
           "siglip": "SiglipVisionModel", "siglip_vision_model": "SiglipVisionModel",
           "dinov2": "Dinov2Model", "dinov2_with_registers": "Dinov2WithRegistersModel"}


def load_vision(model_id: str) -> tuple[nn.Module, tuple, tuple, int]:
    """-> (tower, mean, std, image_size)."""
    import transformers

    cfg = transformers.AutoConfig.from_pretrained(model_id)
    name = _TOWERS.get(cfg.model_type)
    if name is None:
        raise ValueError(f"hf:{model_id}: unsupported vision model_type {cfg.model_type!r}; "
                         f"supported: {sorted(_TOWERS)}")
    tower = getattr(transformers, name).from_pretrained(model_id, dtype=torch.float32).eval()
    mean, std = _normalisation(model_id)
    return tower, mean, std, tower.config.image_size


def _normalisation(model_id: str) -> tuple[tuple, tuple]:
    from transformers import AutoImageProcessor

    try:
        proc = AutoImageProcessor.from_pretrained(model_id)
        return tuple(proc.image_mean), tuple(proc.image_std)
    except (OSError, ValueError, AttributeError):
        return (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # ImageNet: the common default


def load_lm(model_id: str):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_id)
    lm = AutoModelForCausalLM.from_pretrained(model_id, dtype=torch.float32).eval()
    return lm, tok
