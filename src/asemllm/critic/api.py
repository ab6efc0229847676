"""The critic a person uses: photo in; critique by aspect, measured attributes, saliency out.

`load()` gives the default critic. The critique text comes from a trained ASE-MLLM when one is
given (`load(path)`); without one it comes from the teacher, whose every sentence is a claim
backed by a measurement of this photo. The JSON says which (`model`).
"""

from __future__ import annotations

import random
import time
from pathlib import Path

TEACHER = "asemllm-teacher (rules over measurements, no language model)"


class Critic:
    def __init__(self, model=None):
        from ..saliency.predict import load_iasm

        self.model = model  # an AestheticCaptioner, or None for the teacher
        self.iasm = model.iasm if model is not None else load_iasm()

    @property
    def name(self) -> str:
        return TEACHER if self.model is None else f"ASE-MLLM ({self.model.config.lm.backbone})"

    def critique(self, image, aspects=None, overlay_dir=None, seed: int = 0) -> dict:
        """image: a path, PIL image or uint8 array -> the critique record (see README)."""
        from ..images import MIN_SIDE, load_image
        from ..saliency.predict import heat_overlay, predict_maps
        from .attributes import measure
        from .teacher import ASPECTS

        t = {"start": time.perf_counter()}
        photo = load_image(image, min_side=MIN_SIDE)
        name = str(image) if isinstance(image, (str, Path)) else "<image>"
        (sal,) = predict_maps(self.iasm, [photo], [(photo.height, photo.width)])
        t["saliency"] = time.perf_counter()
        attrs = measure(photo, saliency=sal)
        t["attributes"] = time.perf_counter()
        aspects = list(aspects or ASPECTS)
        texts = self._texts(photo, attrs, aspects, seed)
        t["critique"] = time.perf_counter()
        peak = divmod(int(sal.argmax()), sal.shape[1])  # (row, col)
        overlay = None
        if overlay_dir is not None:
            Path(overlay_dir).mkdir(parents=True, exist_ok=True)
            overlay = str(Path(overlay_dir) / f"{Path(name).stem if name != '<image>' else 'image'}_overlay.jpg")
            heat_overlay(photo, sal).save(overlay, quality=90)
        return {"image": name, "critique": texts, "overall": texts.get("general_impression") or " ".join(texts.values()),
                "attributes": {k: {"value": a.value, "unit": a.unit, "level": a.level} for k, a in attrs.items()},
                "saliency": {"overlay": overlay, "peak": [peak[1], peak[0]]}, "model": self.name,
                "timings": _timings(t)}

    def _texts(self, photo, attrs, aspects, seed) -> dict[str, str]:
        if self.model is None:
            from .teacher import critique

            rng = random.Random(seed)
            return {a: critique(attrs, a, rng).text for a in aspects}
        prompts = [self.model.config.prompt(a) for a in aspects]
        out = self.model.generate([photo] * len(aspects), prompts, max_new_tokens=96)
        return {a: t.strip() for a, t in zip(aspects, out)}


def _timings(t: dict) -> dict:
    keys = list(t)
    return {k: round(t[k] - t[prev], 3) for prev, k in zip(keys, keys[1:])} | {"total": round(t[keys[-1]] - t["start"], 3)}


def load(path_or_hf_id: str | None = None) -> Critic:
    """The default critic, or one built on a trained ASE-MLLM (a saved folder or a ModelConfig .json)."""
    if path_or_hf_id is None:
        return Critic()
    from ..evaluation.run import load_model

    return Critic(load_model(path_or_hf_id))
