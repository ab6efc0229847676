"""SmolLM2-135M-Instruct: GGUF -> safetensors conversion, tokenizer, and a real answer."""

from __future__ import annotations

import pytest

from asemllm.backbones import smollm2

QUESTION = "What is the capital of France?"


def test_gguf_file_is_installed():
    path = smollm2.gguf_path()
    assert path.is_file() and path.suffix == ".gguf"
    assert path.stat().st_size > 50_000_000  # the real Q4_1 weights, not an LFS pointer


@pytest.fixture(scope="module")
def converted():
    # The real default cache on purpose: the ~30 s conversion then happens once per machine,
    # and later runs (and the rest of the project) only pay the sub-second reload.
    model, tokenizer = smollm2.load_smollm2()
    return model, tokenizer


def _chat_prompt(tokenizer, question):
    messages = [{"role": "user", "content": question}]
    return tokenizer.apply_chat_template(
        messages, add_generation_prompt=True, return_tensors="pt", return_dict=True
    )


@pytest.mark.slow
def test_tokenizer_special_tokens(converted):
    _, tok = converted
    assert tok.chat_template and "<|im_start|>" in tok.chat_template
    im_start, im_end, endoftext = tok.convert_tokens_to_ids(
        ["<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    )
    assert (im_start, im_end, endoftext) == (1, 2, 0)
    assert tok.eos_token_id == im_end
    assert tok.pad_token_id == endoftext != tok.eos_token_id
    assert tok.model_max_length == 8192


@pytest.mark.slow
def test_converted_checkpoint_is_plain_tied_fp32(converted):
    import torch

    model, tok = converted
    assert model.dtype == torch.float32 and not model.training
    assert getattr(model, "hf_quantizer", None) is None
    assert not hasattr(model.config, "quantization_config")
    assert model.lm_head.weight is model.model.embed_tokens.weight  # tie survived the round trip
    for cfg in (model.config, model.generation_config):
        assert cfg.eos_token_id == tok.eos_token_id
        assert cfg.pad_token_id == tok.pad_token_id


@pytest.mark.slow
def test_converted_logits_match_gguf(converted):
    import torch

    model, tok = converted
    reference, _ = smollm2.load_from_gguf()  # one extra ~20 s GGUF load: the round-trip proof
    inputs = _chat_prompt(tok, QUESTION)
    with torch.no_grad():
        ours = model(**inputs).logits
        theirs = reference(**inputs).logits
    assert ours.shape == (1, inputs["input_ids"].shape[1], 49152)
    assert (ours - theirs).abs().max().item() < 1e-5


@pytest.mark.slow
def test_greedy_answer_and_stop(converted):
    model, tok = converted
    inputs = _chat_prompt(tok, QUESTION)
    out = model.generate(**inputs, max_new_tokens=12, do_sample=False)
    new = out[0, inputs["input_ids"].shape[1]:].tolist()
    # "The capital of France is Paris.<|im_end|>": 7 tokens, then the end of the turn.
    assert new[-1] == tok.eos_token_id and len(new) < 12
    assert tok.decode(new, skip_special_tokens=True) == "The capital of France is Paris."
