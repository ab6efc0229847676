"""Caption metrics (pycocoevalcap + Java): plumbing checks on real PCCD critique text.

The "predictions" below are one human critique aspect (composition) scored against the other
aspects of the same photo. That is a plumbing check only: no number from it is a result about
any model. What is checked: our wrapper gives exactly what a direct pycocoevalcap call gives,
the corpus/per-image relations each metric is defined by, the statistics behind the bootstrap,
and the error paths.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import pytest

from asemllm.evaluation import caption_metrics as cm

ASPECTS = ("general_impression", "subject_of_photo", "composition", "use_of_camera",
           "depth_of_field", "color_lighting", "focus")
ALL_KEYS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "METEOR", "ROUGE-L", "CIDEr-D")
FAST = ("bleu", "rouge", "cider")  # no METEOR jar: a few seconds


@pytest.fixture(scope="module")
def pccd(shared_data):
    """100 PCCD validation photos: composition critique as 'prediction', other aspects as refs.

    Two predictions are altered to reach edge cases: the first is empty, the second is a copy
    of one of its references (a perfect METEOR match, whose chunk count the jar's corpus
    aggregation leaves out).
    """
    recs = json.loads((shared_data / "pccd" / "guru_validation.json").read_text())
    preds, refs = {}, {}
    for r in recs:
        pred = (r.get("composition") or "").strip()
        others = [(r.get(a) or "").strip() for a in ASPECTS if a != "composition"]
        others = [o for o in others if o]
        if pred and others and r["title"] not in preds:
            preds[r["title"]] = pred
            refs[r["title"]] = others
        if len(preds) == 100:
            break
    assert len(preds) == 100
    ids = list(preds)
    preds[ids[0]] = ""
    preds[ids[1]] = refs[ids[1]][0]
    return preds, refs


@pytest.fixture(scope="module")
def fast_scores(pccd):
    return cm.score_captions(*pccd, metrics=FAST)


@pytest.fixture(scope="module")
def full_scores(pccd):
    return cm.score_captions(*pccd)


def _close(a, b, tol=1e-9):
    return abs(float(a) - float(b)) <= tol


# ---------------------------------------------------------------- Java


def test_java_is_usable_here():
    ok, msg = cm.java_status()
    assert ok, msg
    assert "version" in msg and "\n" not in msg


def test_require_java_explains_how_to_install_when_java_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no java
    ok, msg = cm.java_status()
    assert not ok and "default-jre-headless" in msg
    with pytest.raises(RuntimeError, match=r"JRE 8\+.*default-jre-headless"):
        cm.require_java()
    with pytest.raises(RuntimeError, match="default-jre-headless"):
        cm.score_captions({"a": "a cat"}, {"a": ["a cat on a mat"]})


# ------------------------------------------------- equality with pycocoevalcap


@pytest.mark.slow
def test_equals_direct_pycocoevalcap_call(pccd, full_scores):
    """Corpus and per-image scores equal pycocoevalcap's own classes on the same data (1e-9)."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    if not os.access(os.path.join(cm._package_dir(), "tokenizer"), os.W_OK):
        pytest.skip("pycocoevalcap's own PTBTokenizer needs a writable site-packages")
    preds, refs = pccd
    ids = list(preds)
    tok = PTBTokenizer()
    gts = tok.tokenize({i: [{"caption": c} for c in refs[i]] for i in ids})
    res = tok.tokenize({i: [{"caption": preds[i]}] for i in ids})
    direct_corpus, direct_images = {}, {}
    bleu, bleu_images = Bleu(4).compute_score(gts, res, verbose=0)
    for k in range(4):
        direct_corpus[f"BLEU-{k + 1}"], direct_images[f"BLEU-{k + 1}"] = bleu[k], bleu_images[k]
    meteor = Meteor()
    try:
        direct_corpus["METEOR"], direct_images["METEOR"] = meteor.compute_score(gts, res)
    finally:
        cm._close_meteor(meteor)
    direct_corpus["ROUGE-L"], direct_images["ROUGE-L"] = Rouge().compute_score(gts, res)
    direct_corpus["CIDEr-D"], direct_images["CIDEr-D"] = Cider().compute_score(gts, res)

    assert set(full_scores["corpus"]) == set(ALL_KEYS)
    for key in ALL_KEYS:
        assert _close(full_scores["corpus"][key], direct_corpus[key]), key
        ours = [full_scores["per_image"][i][key] for i in ids]
        assert np.max(np.abs(np.array(ours) - np.array(direct_images[key], dtype=float))) <= 1e-9, key


@pytest.mark.slow
def test_empty_prediction_scores_zero_and_a_copied_reference_scores_meteor_one(pccd, full_scores):
    ids = list(pccd[0])
    assert all(full_scores["per_image"][ids[0]][k] == 0.0 for k in ALL_KEYS)
    assert _close(full_scores["per_image"][ids[1]]["METEOR"], 1.0, 1e-12)


# ------------------------------------------------------ corpus vs per-image


def test_cider_corpus_is_the_mean_of_per_image_scores(fast_scores):
    per = [v["CIDEr-D"] for v in fast_scores["per_image"].values()]
    assert _close(np.mean(per), fast_scores["corpus"]["CIDEr-D"], 1e-12)
    assert _close(np.mean([v["ROUGE-L"] for v in fast_scores["per_image"].values()]),
                  fast_scores["corpus"]["ROUGE-L"], 1e-12)


def test_cider_of_a_subset_differs_from_the_same_images_in_the_full_set(pccd, fast_scores):
    """Document frequencies come from the scored set: per-image CIDEr-D must come from the
    full-set computation. A single photo scored alone gets ~0 (log(1) idf)."""
    preds, refs = pccd
    some = list(preds)[2:12]
    sub = cm.score_captions({i: preds[i] for i in some}, {i: refs[i] for i in some}, metrics=("cider",))
    full = [fast_scores["per_image"][i]["CIDEr-D"] for i in some]
    assert not np.allclose([sub["per_image"][i]["CIDEr-D"] for i in some], full)
    one = some[0]
    alone = cm.score_captions({one: preds[one]}, {one: refs[one]}, metrics=("cider",))
    assert alone["corpus"]["CIDEr-D"] < 1e-9 < fast_scores["per_image"][one]["CIDEr-D"]


def test_bleu_corpus_is_recomputed_exactly_from_per_image_statistics(fast_scores):
    ids = list(fast_scores["per_image"])
    sums = np.array([fast_scores["stats"]["bleu"][i] for i in ids], dtype=float).sum(0)
    bleu = cm._bleu_from_stats(sums)
    for k in range(4):
        assert _close(bleu[k], fast_scores["corpus"][f"BLEU-{k + 1}"], 1e-12)
    # ... and corpus BLEU is not the mean of per-image (sentence) BLEU
    assert not _close(np.mean([fast_scores["per_image"][i]["BLEU-4"] for i in ids]),
                      fast_scores["corpus"]["BLEU-4"], 1e-3)


@pytest.mark.slow
def test_meteor_corpus_is_recomputed_exactly_from_per_image_statistics(full_scores):
    ids = list(full_scores["per_image"])
    stats = np.array([full_scores["stats"]["meteor"][i] for i in ids])
    assert stats.shape == (len(ids), cm.METEOR_N_STATS)
    assert _close(cm.meteor_corpus_from_stats(stats), full_scores["corpus"]["METEOR"], 1e-12)
    per = cm._meteor_from_stats(stats)
    assert np.max(np.abs(per - [full_scores["per_image"][i]["METEOR"] for i in ids])) <= 1e-12
    # the perfect match (ids[1]) is in the set, so a plain column sum would be wrong
    assert not _close(float(cm._meteor_from_stats(stats.sum(0))), full_scores["corpus"]["METEOR"], 1e-9)
    # and the corpus score is not the mean of per-image scores
    assert not _close(np.mean(per), full_scores["corpus"]["METEOR"], 1e-4)


# -------------------------------------------------------------- bootstrap


def test_bootstrap_intervals_contain_the_corpus_scores(fast_scores):
    ci = cm.bootstrap_ci(fast_scores["per_image"], n=1000, seed=0, stats=fast_scores["stats"])
    assert set(ci) == {"BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr-D"}
    for key, (lo, hi) in ci.items():
        assert type(lo) is float and type(hi) is float
        assert lo < fast_scores["corpus"][key] < hi, (key, lo, hi)
    assert cm.bootstrap_ci(fast_scores["per_image"], n=1000, seed=0, stats=fast_scores["stats"]) == ci
    json.dumps(ci)


def test_bootstrap_without_statistics_labels_bleu_as_mean_of_per_image(fast_scores):
    ci = cm.bootstrap_ci(fast_scores["per_image"], n=200, seed=1)
    assert "BLEU-4 (mean of per-image)" in ci and "BLEU-4" not in ci
    lo, hi = ci["CIDEr-D"]
    assert lo < fast_scores["corpus"]["CIDEr-D"] < hi


@pytest.mark.slow
def test_bootstrap_meteor_interval_is_around_the_jar_corpus_score(full_scores):
    ci = cm.bootstrap_ci(full_scores["per_image"], n=1000, seed=0, stats=full_scores["stats"])
    assert set(ci) == set(ALL_KEYS)
    lo, hi = ci["METEOR"]
    assert lo < full_scores["corpus"]["METEOR"] < hi


# ----------------------------------------------------------------- sanity


def test_swapping_predictions_between_photos_lowers_cider(pccd, fast_scores):
    preds, refs = pccd
    ids = list(preds)
    rotated = {i: preds[ids[(k + 1) % len(ids)]] for k, i in enumerate(ids)}
    swapped = cm.score_captions(rotated, refs, metrics=("cider",))
    assert swapped["corpus"]["CIDEr-D"] < fast_scores["corpus"]["CIDEr-D"]


def test_spice_is_reported_unavailable_never_as_a_number(fast_scores):
    for result in (fast_scores,
                   cm.score_captions({"a": "a red door"}, {"a": ["a red door"]}, metrics=("spice", "rouge"))):
        reason = result["unavailable"]["SPICE"]
        assert isinstance(reason, str) and "CoreNLP" in reason
        assert "SPICE" not in result["corpus"]
        assert all("SPICE" not in v for v in result["per_image"].values())
        assert result["config"]["spice"]["computed"] is False


def test_result_is_json_serialisable_with_plain_floats(fast_scores):
    json.loads(json.dumps(fast_scores))
    assert all(type(v) is float for v in fast_scores["corpus"].values())
    assert all(type(v) is float for d in fast_scores["per_image"].values() for v in d.values())


def test_config_records_what_was_run(pccd, fast_scores):
    from pycocoevalcap.bleu.bleu import Bleu
    import inspect

    c = fast_scores["config"]
    assert c["package"] == "pycocoevalcap" and c["package_version"] == "1.2"
    assert c["n_images"] == 100 and c["n_references"] == sum(map(len, pccd[1].values()))
    assert c["tokenizer"]["name"] == "PTBTokenizer"
    assert c["tokenizer"]["options"] == ["-preserveLines", "-lowerCase"]
    assert c["bleu"]["n"] == 4 and c["bleu"]["ref_length"] == "closest"
    assert "option='closest'" in inspect.getsource(Bleu.compute_score)  # what pycocoevalcap uses
    assert c["rouge"]["beta"] == 1.2
    assert c["cider"]["sigma"] == 6.0 and c["cider"]["n"] == 4 and "corpus" in c["cider"]["df"]
    assert "version" in c["java"]
    assert "meteor" not in c


@pytest.mark.slow
def test_config_records_the_meteor_command(full_scores):
    m = full_scores["config"]["meteor"]
    assert m["version"] == "1.5" and m["jar"] == "meteor-1.5.jar"
    assert m["command"][-3:] == ["-l", "en", "-norm"] and "meteor-1.5.jar" in m["command"]


# ------------------------------------------------------------------ errors


def test_id_mismatch_names_the_ids():
    with pytest.raises(ValueError, match="no prediction.*'photo-b'"):
        cm.score_captions({"photo-a": "x"}, {"photo-a": ["y"], "photo-b": ["z"]})
    with pytest.raises(ValueError, match="no references.*'photo-c'"):
        cm.score_captions({"photo-a": "x", "photo-c": "w"}, {"photo-a": ["y"]})


def test_empty_references_are_an_error_naming_the_id():
    with pytest.raises(ValueError, match="'photo-b' has an empty reference list"):
        cm.score_captions({"photo-a": "x", "photo-b": "y"}, {"photo-a": ["y"], "photo-b": []})
    with pytest.raises(ValueError, match="reference 1 of image 'photo-a' is empty"):
        cm.score_captions({"photo-a": "x"}, {"photo-a": ["y", "  "]})
    with pytest.raises(ValueError, match="unknown metric"):
        cm.score_captions({"photo-a": "x"}, {"photo-a": ["y"]}, metrics=("bleu", "spicy"))
    with pytest.raises(TypeError, match="photo-a"):
        cm.score_captions({"photo-a": ["x"]}, {"photo-a": ["y"]})


def test_empty_prediction_is_scored_zero(pccd, fast_scores):
    first = list(pccd[0])[0]
    assert all(v == 0.0 for v in fast_scores["per_image"][first].values())


# --------------------------------------------------------------- tokenizer


def test_tokenizer_keeps_captions_on_their_image_despite_line_breaks():
    """Java's PTBTokenizer splits lines at \\r, \\f, \\v, U+2028/9: pycocoevalcap's wrapper would
    then shift every later caption onto the wrong image; ours turns them into spaces."""
    out = cm._ptb_tokenize({"a": ["Alpha\rbeta, gamma.", "x\u2028y\x0cz"], "b": ["Delta!"], "c": [""]})
    assert out == {"a": ["alpha beta gamma", "x y z"], "b": ["delta"], "c": [""]}


def test_tokenizer_writes_nothing_inside_site_packages(monkeypatch):
    """pycocoevalcap's PTBTokenizer writes its temp file next to its jar (fails on a read-only
    site-packages); ours must not. Model a read-only package directory and check both."""
    from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

    pkg = cm._package_dir()
    real = tempfile.NamedTemporaryFile

    def read_only(*args, **kwargs):
        if str(kwargs.get("dir", "")).startswith(pkg):
            raise OSError(30, "Read-only file system", kwargs["dir"])
        return real(*args, **kwargs)

    before = sorted(os.listdir(os.path.join(pkg, "tokenizer")))
    monkeypatch.setattr(tempfile, "NamedTemporaryFile", read_only)
    with pytest.raises(OSError, match="Read-only"):
        PTBTokenizer().tokenize({"a": [{"caption": "Hello, world."}]})
    assert cm._ptb_tokenize({"a": ["Hello, world."]}) == {"a": ["hello world"]}
    assert sorted(os.listdir(os.path.join(pkg, "tokenizer"))) == before


def test_importing_the_module_does_no_work():
    code = ("import sys, asemllm.evaluation.caption_metrics; "
            "assert not [m for m in sys.modules if m.startswith('pycocoevalcap')]")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
