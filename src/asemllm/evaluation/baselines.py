"""`asemllm baseline`: zero-shot multimodal LLMs of transformers on the jobs `asemllm eval` scores.

Any model that `AutoModelForImageTextToText` loads (LLaVA-1.5 as `LlavaForConditionalGeneration`,
Qwen2-VL and Qwen2.5-VL as `Qwen2VLForConditionalGeneration` / `Qwen2_5_VLForConditionalGeneration`,
and the rest of that family), by hub id or local folder, with its own processor. Each (photo, aspect)
job gets the project's prompt for the aspect (`config.DEFAULT_PROMPTS`) as one user turn holding the
photo and that text, through the processor's chat template; generation is batched (left padding),
greedy, at most `max_new_tokens`, and resumable through the same predictions file and metrics as
`asemllm eval`, so that the rows of the paper's comparison differ only in the model.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from .run import jobs, resume, score


def load_baseline(model_id: str, device: str | None = None):
    """(model, processor) for a hub id or local folder; the processor pads on the left.

    On a GPU the weights are loaded in bfloat16, on the CPU in float32. A processor that transformers
    cannot build here (Qwen2-VL's needs torchvision) is an ImportError naming the model and the cause.
    """
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if str(model_id).startswith(("/", ".")) and not Path(model_id).is_dir():  # a folder, not a hub id
        raise FileNotFoundError(f"{model_id}: no such model folder")
    try:
        processor = AutoProcessor.from_pretrained(model_id)
    except ImportError as e:
        cause = next((ln.strip() for ln in str(e).splitlines() if ln.strip()), type(e).__name__)
        raise ImportError(f"{model_id}: its processor cannot be built here: {cause}") from e
    if getattr(processor, "chat_template", None) is None or not hasattr(processor, "image_processor"):
        raise ValueError(f"{model_id}: not an image-text-to-text model with a chat template "
                         f"(processor {type(processor).__name__})")
    processor.tokenizer.padding_side = "left"
    dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    model = AutoModelForImageTextToText.from_pretrained(model_id, dtype=dtype).to(device).eval()
    return model, processor


def greedy_config(model, max_new_tokens: int):
    """The model's generation config (its end-of-turn tokens) made plain greedy: no sampling, one
    beam, no repetition penalty, as ASE-MLLM is decoded; the pad token defaults to the end token."""
    import copy

    cfg = copy.deepcopy(model.generation_config)
    cfg.update(do_sample=False, num_beams=1, temperature=None, top_p=None, top_k=None, repetition_penalty=None,
               max_new_tokens=max_new_tokens)
    if cfg.pad_token_id is None:
        eos = cfg.eos_token_id
        cfg.pad_token_id = eos[0] if isinstance(eos, list) else eos
    return cfg


def messages(photo, prompt: str) -> list[dict]:
    """One user turn: the photo, then the prompt."""
    return [{"role": "user", "content": [{"type": "image", "image": photo}, {"type": "text", "text": prompt}]}]


def texts_for(model, processor, prompts: dict, max_new_tokens: int):
    """A `texts(photos, jobs)` for `run.resume`: one batched greedy generation per batch of jobs, its
    inputs from the processor's own chat template (which also decides the special tokens)."""
    import torch

    config = greedy_config(model, max_new_tokens)

    def texts(photos, batch):
        enc = processor.apply_chat_template([messages(p, prompts[j["aspect"]]) for p, j in zip(photos, batch)],
                                            add_generation_prompt=True, tokenize=True, return_dict=True,
                                            return_tensors="pt", processor_kwargs={"padding": True})
        enc = enc.to(model.device, dtype=model.dtype)  # the dtype applies to floating tensors only
        with torch.no_grad():
            out = model.generate(**enc, generation_config=config)
        return processor.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)

    return texts


def system_name(model_id: str) -> str:
    """`llava-hf/llava-1.5-7b-hf` -> `llava-1.5-7b-hf`; a folder -> its name: the predictions file's tag."""
    name = Path(str(model_id).rstrip("/")).name
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name) or "baseline"


def evaluate_baseline(model_id: str, data: str, split: str, out: str, aspects=None, batch_size: int = 8,
                      max_new_tokens: int = 96, image_root: str = "", name: str | None = None,
                      metrics=("bleu", "meteor", "rouge", "cider"), device: str | None = None, log=None) -> dict:
    """Generate and score the split's jobs with one baseline into `out`: predictions-<name>.jsonl
    (resumable) and results.json, laid out as `asemllm eval` lays out its own."""
    from ..config import DEFAULT_PROMPTS
    from ..data.records import read_jsonl
    from .caption_metrics import require_java

    require_java()  # before the generation, not after
    name = name or system_name(model_id)
    todo = jobs(read_jsonl(data), split, aspects, DEFAULT_PROMPTS, image_root)
    if not todo:
        raise ValueError(f"{data}: no {split!r} records with critiques for aspects {aspects or 'any'}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model, processor = load_baseline(model_id, device)
    t0 = time.time()
    preds = resume(todo, out / f"predictions-{name}.jsonl", batch_size,
                   texts_for(model, processor, DEFAULT_PROMPTS, max_new_tokens), log)
    results = {name: {**score(todo, preds, metrics), "generation_s": round(time.time() - t0, 1)}}
    result = {"baseline": model_id, "model_class": type(model).__name__, "data": data, "split": split,
              "jobs": len(todo), "prompts": {a: DEFAULT_PROMPTS[a] for a in sorted({j["aspect"] for j in todo})},
              "generation": {"batch_size": batch_size, "max_new_tokens": max_new_tokens, "greedy": True,
                             "device": str(model.device), "dtype": str(model.dtype).replace("torch.", "")},
              "results": results}
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
