"""asemllm: aesthetic image captioning with a saliency-enhanced multimodal LLM (ASE-MLLM).

Importing the package is cheap: torch and transformers load inside the functions that need them.
"""

__version__ = "0.1.0"
