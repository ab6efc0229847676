"""The paired photo-level bootstrap of `asemllm.evaluation.compare`.

The texts are real PCCD critiques (text only): references are one aspect's critique of a photo, the
"perfect" system repeats it and the "unrelated" system says another photo's critique of the same
aspect. That is a check of the test's arithmetic only: no number here is a result about a model.
"""

import json

import pytest

from asemllm.evaluation.compare import paired_bootstrap, photo_of
from asemllm.evaluation.run import score
from made_up_texts import FAST

ASPECTS = ("composition", "color_lighting")


@pytest.fixture(scope="module")
def todo(shared_data):
    """20 PCCD validation photos with both aspects written: 40 jobs; 'unrelated' is the next photo's text."""
    recs = json.loads((shared_data / "pccd" / "guru_validation.json").read_text())
    recs = [r for r in recs if all((r.get(a) or "").strip() for a in ASPECTS)][:21]
    jobs, unrelated = [], {}
    for r, nxt in zip(recs, recs[1:]):
        for a in ASPECTS:
            key = f"{r['title']}|{a}"
            jobs.append({"key": key, "aspect": a, "references": [r[a].strip()]})
            unrelated[key] = nxt[a].strip()
    return jobs, unrelated


@pytest.fixture(scope="module")
def systems(todo, java):
    jobs, unrelated = todo
    perfect = {j["key"]: j["references"][0] for j in jobs}
    return score(jobs, perfect, FAST), score(jobs, unrelated, FAST)


def test_identical_systems_differ_by_nothing(systems):
    perfect, _ = systems
    result = paired_bootstrap(perfect, perfect, n=200)
    assert result["unit"] == "photo" and (result["photos"], result["jobs"]) == (20, 40)
    for m, e in result["metrics"].items():
        assert e["difference"] == 0 and e["ci"] == [0, 0] and e["p"] == 1, m


def test_the_references_beat_unrelated_critiques(systems):
    perfect, unrelated = systems
    result = paired_bootstrap(perfect, unrelated, n=500)
    assert set(result["metrics"]) == set(perfect["corpus"])
    for m, e in result["metrics"].items():
        assert e["a"] == pytest.approx(perfect["corpus"][m]) and e["b"] == pytest.approx(unrelated["corpus"][m]), m
        assert e["difference"] > 0 and e["p"] < 0.05, m
        assert e["ci"][0] <= e["difference"] <= e["ci"][1], m
    flipped = paired_bootstrap(unrelated, perfect, n=500)["metrics"]["CIDEr-D"]
    assert flipped["difference"] == pytest.approx(-result["metrics"]["CIDEr-D"]["difference"])


@pytest.mark.slow
def test_meteor_is_recomputed_from_its_statistics(todo, java):
    """METEOR's per-job statistics do not depend on the other jobs, so one jar run scores both
    systems (keys prefixed); each one's corpus METEOR is the jar's aggregate of its own statistics."""
    from asemllm.evaluation.caption_metrics import meteor_corpus_from_stats

    jobs, unrelated = todo
    both = [{**j, "key": f"{s}{j['key']}"} for s in ("A:", "B:") for j in jobs]
    preds = {f"A:{j['key']}": j["references"][0] for j in jobs} | {f"B:{k}": t for k, t in unrelated.items()}
    scored = score(both, preds, ("meteor",))
    perfect, other = ({"per_image": {k[2:]: v for k, v in scored["per_image"].items() if k.startswith(s)},
                       "stats": {"meteor": {k[2:]: v for k, v in scored["stats"]["meteor"].items() if k.startswith(s)}}}
                      for s in ("A:", "B:"))
    e = paired_bootstrap(perfect, other, n=300)["metrics"]["METEOR"]
    assert e["a"] == pytest.approx(meteor_corpus_from_stats(list(perfect["stats"]["meteor"].values())))
    assert e["b"] == pytest.approx(meteor_corpus_from_stats(list(other["stats"]["meteor"].values())))
    assert e["difference"] > 0 and e["p"] < 0.05 and e["ci"][0] <= e["difference"] <= e["ci"][1]


def _mean_only(diffs: dict) -> tuple[dict, dict]:
    """Two results with one mean-defined metric, whose per-job difference is `diffs`."""
    a = {"per_image": {k: {"ROUGE-L": 0.5 + d / 2} for k, d in diffs.items()}}
    b = {"per_image": {k: {"ROUGE-L": 0.5 - d / 2} for k, d in diffs.items()}}
    return a, b


def test_photos_are_resampled_not_jobs():
    """Both aspects of a photo move together (+1 on five photos, -1 on five): the photo-level
    interval is that of 10 draws, wider by sqrt(2) than that of 20 independent jobs."""
    diffs = {f"p{i}|{a}": (1.0 if i < 5 else -1.0) for i in range(10) for a in ASPECTS}
    e = paired_bootstrap(*_mean_only(diffs), n=4000)["metrics"]["ROUGE-L"]
    width = e["ci"][1] - e["ci"][0]
    assert e["difference"] == pytest.approx(0) and e["p"] == 1
    assert 2 * 1.96 * 0.316 * 0.85 < width < 2 * 1.96 * 0.316 * 1.15  # sd of a mean of 10 +-1 draws


def test_a_constant_difference_is_certain():
    e = paired_bootstrap(*_mean_only({f"p{i}|focus": 0.1 for i in range(6)}), n=99)["metrics"]["ROUGE-L"]
    assert e["difference"] == pytest.approx(0.1) and e["ci"] == pytest.approx([0.1, 0.1]) and e["p"] == 0.01


def test_different_jobs_are_refused():
    a, b = _mean_only({"x|focus": 0.1, "y|focus": 0.2})
    del b["per_image"]["y|focus"]
    with pytest.raises(ValueError, match=r"different jobs.*y\|focus"):
        paired_bootstrap(a, b)


def test_a_photo_id_may_hold_the_separator():
    assert photo_of("a|b|composition") == "a|b"
