"""`asemllm eval` plumbing on a tiny model and real photos: resumable generation, scores, ablation.

The tiny model is random and the references are short true descriptions written here: no number
from these runs is a result.
"""

import json

import pytest

from asemllm.data.records import CritiqueRecord, write_jsonl
from asemllm.evaluation.run import evaluate, table
from asemllm.models import save_model
from made_up_texts import FAST, PHOTOS


@pytest.fixture
def setup(shared_data, tmp_path, tiny):
    records = [CritiqueRecord(id=k.split("/")[1], image=str(shared_data / "photos" / k), split="test",
                              critiques={"overall": v, "composition": v[:1]}) for k, v in PHOTOS.items()]
    records.append(CritiqueRecord(id="gone", image=str(tmp_path / "missing.jpg"), split="test",
                                  critiques={"overall": ["a photo that is not there"]}))
    write_jsonl(records, tmp_path / "data.jsonl")
    save_model(tiny, tmp_path / "model")
    return tmp_path


def _run(root, out, **kw):
    return evaluate(str(root / "model"), str(root / "data.jsonl"), "test", str(root / out),
                    batch_size=2, max_new_tokens=6, metrics=FAST, **kw)


def test_killed_eval_resumes_to_the_same_results(setup):
    full = _run(setup, "a")
    calls = []

    def kill_after_two_batches(msg):
        calls.append(msg)
        if len(calls) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _run(setup, "b", log=kill_after_two_batches)
    assert len((setup / "b" / "predictions-iasm.jsonl").read_text().splitlines()) == 4
    resumed = _run(setup, "b")
    a = json.loads((setup / "a" / "results.json").read_text())["results"]["iasm"]
    b = json.loads((setup / "b" / "results.json").read_text())["results"]["iasm"]
    for key in ("corpus", "ci95", "per_image", "unavailable"):  # timings aside, identical
        assert a[key] == b[key], key
    assert _predictions(setup / "a") == _predictions(setup / "b")
    assert full["jobs"] == 9  # 4 photos x 2 aspects + the missing photo's one
    r = resumed["results"]["iasm"]
    assert set(r["corpus"]) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D"}
    assert "SPICE" in r["unavailable"] and "SPICE" not in r["corpus"]
    assert r["per_image"]["gone|overall"]["CIDEr-D"] == 0.0  # the missing photo scores as empty
    errors = [json.loads(line) for line in (setup / "a" / "predictions-iasm.jsonl").read_text().splitlines()]
    assert any("missing.jpg" in e.get("error", "") for e in errors)


def test_ablation_runs_every_saliency_source(setup):
    result = _run(setup, "abl", sources=["iasm", "none", "centre-bias", "random"])
    assert list(result["results"]) == ["iasm", "none", "centre-bias", "random"]
    text = table(result)
    assert "centre-bias" in text and "CIDEr-D" in text
    for source in result["results"]:
        assert (setup / "abl" / f"predictions-{source}.jsonl").is_file()


def _predictions(folder):
    rows = [json.loads(line) for line in (folder / "predictions-iasm.jsonl").read_text().splitlines()]
    return {r["key"]: r["prediction"] for r in rows}
