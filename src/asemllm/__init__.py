"""asemllm: aesthetic image captioning with a saliency-enhanced multimodal LLM (ASE-MLLM).

Importing the package is cheap: torch and transformers load inside the functions that need them.
"""

from ._version import __version__


def load(path_or_hf_id: str | None = None, precision: str = "fp32"):
    """The critic: `asemllm.load()` for the default one, or `asemllm.load(path)` for a trained ASE-MLLM;
    `precision="bf16"` runs its language model in bfloat16 (faster on CPUs with native bf16).

    `critic.critique(image)` takes a path, PIL image or uint8 array."""
    from .critic.api import load as _load

    return _load(path_or_hf_id, precision)
