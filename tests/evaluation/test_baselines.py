"""Zero-shot baselines through transformers' own model classes: plumbing on tiny random models.

The models are tiny random LLaVA / Qwen2-VL / Qwen2.5-VL built from their configs (tests/evaluation/
conftest.py); the photos are real, the reference texts short descriptions written here. What is
checked: the jobs, resumption and error rows of `asemllm eval`, batched left-padded generation, and
that the scores are `score_captions`'s. No number from these runs is a result.
"""

import json

import pytest

from asemllm.data.records import CritiqueRecord, write_jsonl
from asemllm.evaluation.baselines import evaluate_baseline, load_baseline, system_name, texts_for
from asemllm.evaluation.caption_metrics import score_captions
from asemllm.evaluation.run import resume
from made_up_texts import FAST, PHOTOS


@pytest.fixture
def data(shared_data, tmp_path):
    records = [CritiqueRecord(id=k.split("/")[1], image=str(shared_data / "photos" / k), split="test",
                              critiques={"composition": v, "focus": v[:1]}) for k, v in PHOTOS.items()]
    records.append(CritiqueRecord(id="gone", image=str(tmp_path / "missing.jpg"), split="test",
                                  critiques={"composition": ["a photo that is not there"]}))
    write_jsonl(records, tmp_path / "data.jsonl")
    return tmp_path / "data.jsonl"


def _rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_llava_baseline_resumes_and_scores_with_score_captions(tiny_llava, data, tmp_path, java):
    """A run killed after its first batch resumes to what an uninterrupted run with another batch
    size writes (left padding: a job's text does not depend on its batch); a finished run generates
    nothing more; the scores are score_captions's on the predictions file."""
    full = evaluate_baseline(tiny_llava, str(data), "test", str(tmp_path / "a"), batch_size=4, max_new_tokens=5,
                             metrics=FAST)
    calls = []

    def kill_after_one_batch(msg):
        calls.append(msg)
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate_baseline(tiny_llava, str(data), "test", str(tmp_path / "b"), batch_size=3, max_new_tokens=5,
                          metrics=FAST, log=kill_after_one_batch)
    name = system_name(tiny_llava)
    b = tmp_path / "b" / f"predictions-{name}.jsonl"
    assert len(_rows(b)) == 3
    evaluate_baseline(tiny_llava, str(data), "test", str(tmp_path / "b"), batch_size=3, max_new_tokens=5, metrics=FAST)
    before = b.read_text()
    again = evaluate_baseline(tiny_llava, str(data), "test", str(tmp_path / "b"), batch_size=3, max_new_tokens=5,
                              metrics=FAST)
    assert b.read_text() == before  # nothing generated the third time
    rows = _rows(b)
    assert len(rows) == full["jobs"] == 9 and len({r["key"] for r in rows}) == 9  # one row per job
    assert [r for r in rows if "error" in r] == [r for r in rows if r["key"] == "gone|composition"]
    assert "missing.jpg" in next(r["error"] for r in rows if "error" in r)
    preds = {r["key"]: r["prediction"] for r in rows}
    assert preds == {r["key"]: r["prediction"] for r in _rows(tmp_path / "a" / f"predictions-{name}.jsonl")}
    assert any(p for p in preds.values())
    refs = {f"{k.split('/')[1]}|{a}": v if a == "composition" else v[:1] for k, v in PHOTOS.items()
            for a in ("composition", "focus")} | {"gone|composition": ["a photo that is not there"]}
    direct = score_captions(preds, refs, metrics=FAST)
    r = again["results"][name]
    assert r["corpus"] == direct["corpus"] and r["per_image"] == direct["per_image"]
    assert again["model_class"] == "LlavaForConditionalGeneration"
    assert again["generation"]["greedy"] and again["prompts"]["focus"] == "Critique the focus of this photo."


def test_cli_baseline_prints_the_scores(tiny_llava, data, tmp_path, java, capsys):
    from asemllm.cli import main

    argv = ["baseline", "--model", tiny_llava, "--data", str(data), "--out", str(tmp_path / "cli"),
            "--aspects", "focus", "--batch-size", "4", "--max-new-tokens", "3", "--json"]
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    scores = result["results"][system_name(tiny_llava)]
    assert result["jobs"] == 4 and "per_image" not in scores and "stats" not in scores
    assert set(scores["corpus"]) >= {"BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D"}


@pytest.mark.parametrize("version, cls", [("2", "Qwen2VLForConditionalGeneration"),
                                          ("2.5", "Qwen2_5_VLForConditionalGeneration")])
def test_qwen_vl_baselines_generate_the_same_text_in_any_batch(version, cls, shared_data, tiny_qwen, tmp_path):
    """Qwen2-VL and Qwen2.5-VL load through the same path (transformers builds their processors only
    with torchvision) and batch with left padding: one batch of three == three batches of one."""
    pytest.importorskip("torchvision", reason="transformers' Qwen2-VL processors need torchvision")
    from asemllm.config import DEFAULT_PROMPTS

    model, processor = load_baseline(tiny_qwen(version), device="cpu")
    assert type(model).__name__ == cls and processor.tokenizer.padding_side == "left"
    todo = [{"key": f"{k}|{a}", "image": str(shared_data / "photos" / k), "aspect": a, "references": ["x"]}
            for k in list(PHOTOS)[:2] for a in ("composition", "general_impression")][:3]
    texts = texts_for(model, processor, DEFAULT_PROMPTS, max_new_tokens=4)
    one = resume(todo, tmp_path / "one.jsonl", 3, texts)
    single = resume(todo, tmp_path / "single.jsonl", 1, texts)
    assert one == single and len(_rows(tmp_path / "one.jsonl")) == 3


def test_without_torchvision_a_qwen_folder_is_one_import_error_naming_it(tmp_path):
    """What a machine without torchvision meets: transformers builds no Qwen2-VL processor there."""
    try:
        import torchvision  # noqa: F401
        pytest.skip("torchvision is installed here")
    except ImportError:
        pass
    from transformers import Qwen2VLImageProcessor

    from asemllm.backbones.tiny import byte_tokenizer

    folder = tmp_path / "qwen-files"
    byte_tokenizer().save_pretrained(folder)
    Qwen2VLImageProcessor().save_pretrained(folder)
    (folder / "processor_config.json").write_text(json.dumps({"processor_class": "Qwen2VLProcessor"}))
    with pytest.raises(ImportError, match=r"qwen-files: its processor cannot be built here: .*[Tt]orchvision") as e:
        load_baseline(str(folder))
    assert "\n" not in str(e.value)


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        load_baseline(str(tmp_path / "nowhere"))


def test_a_model_without_an_image_processor_is_refused(tmp_path):
    from asemllm.backbones.tiny import byte_tokenizer

    byte_tokenizer().save_pretrained(tmp_path / "text-only")
    with pytest.raises((ValueError, OSError), match="text-only"):
        load_baseline(str(tmp_path / "text-only"))
