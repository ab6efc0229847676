"""The coverage tagger: its sentence splitter, its topic patterns, how coverage is counted, and its
precision against the hand judgments in coverage_judged.json (on the real PCCD critiques)."""

import json
from pathlib import Path

import pytest

from asemllm.cli import main
from asemllm.critic.coverage import TOPICS, TOPICS_BY_NAME, coverage, covering, pccd_sentences, split_sentences, tag

JUDGED = Path(__file__).with_name("coverage_judged.json")
# Hand-judged precision of the tags the tagger gives now must stay at or above these: all judged
# tags, and the held-out sample drawn after the keyword fixes (the honest estimate).
PRECISION_ALL, PRECISION_HELDOUT = 0.90, 0.88


# ---- the splitter (made-up critique text) ---------------------------------------------------------
def test_splits_at_sentence_ends_lines_and_lost_spaces():
    made_up = "Nice shot.The colours pop!! Well done e.g. the sky. At f/2.8 it is 1.5 stops over.\nNext line"
    assert split_sentences(made_up) == ["Nice shot.", "The colours pop!!", "Well done e.g. the sky.",
                                        "At f/2.8 it is 1.5 stops over.", "Next line"]


def test_drops_pieces_without_letters_and_keeps_closing_quotes():
    assert split_sentences('It is "sharp." !!! Then more.I think so') == ['It is "sharp."', "Then more.", "I think so"]
    assert split_sentences("") == [] and split_sentences("  !!!  ") == []


# ---- the tagger (made-up sentences) ---------------------------------------------------------------
@pytest.mark.parametrize("made_up, has, lacks", [
    ("The horizon tilts to the right.", {"horizon"}, set()),
    ("Correct the white balance, the snow looks blue.", {"white_balance"}, {"balance"}),
    ("The focal length of 200mm compresses the scene.", {"settings"}, {"sharpness"}),
    ("Soft light from the window suits her face.", {"light"}, {"sharpness"}),
    ("A wide angle lens was a good choice.", {"settings"}, {"viewpoint"}),
    ("Shooting from a lower angle would help.", {"viewpoint"}, set()),
    ("The background is nicely blurred.", {"dof"}, {"sharpness"}),
    ("The eyes are tack sharp.", {"sharpness"}, {"dof"}),
    ("The vignette is overdone.", {"processing"}, set()),
    ("A slow shutter turned the waterfall silky.", {"settings", "motion"}, set()),
    ("I love the mood and the story here.", {"mood"}, set()),
    ("Hello John, thanks for sharing.", set(), {t.name for t in TOPICS}),
])
def test_tags(made_up, has, lacks):
    tags = set(tag(made_up))
    assert has <= tags and not (lacks & tags), tags


def test_a_topic_is_covered_by_the_rules_that_speak_of_it():
    made_up_ids = ["exposure.dark", "light.backlit", "light.golden_hour", "settings.wide_angle", "light.overhead"]
    assert covering(TOPICS_BY_NAME["light"], made_up_ids) == ["light.backlit", "light.golden_hour", "light.overhead"]
    assert covering(TOPICS_BY_NAME["time_of_day"], made_up_ids) == ["light.golden_hour"]
    assert covering(TOPICS_BY_NAME["viewpoint"], made_up_ids) == []  # a lens or the sun's height is no viewpoint
    assert covering(TOPICS_BY_NAME["exposure"], made_up_ids) == ["exposure.dark"]


def _made_up_pccd(folder: Path) -> Path:
    """Two made-up PCCD files (the real schema, invented text): 5 sentences."""
    folder.mkdir(exist_ok=True)
    (folder / "guru_validation.json").write_text(json.dumps([{
        "title": "made_up_1", "composition": "The horizon tilts. Hello there!",
        "color_lighting": "Backlight makes a halo. The mood is calm."}]))
    (folder / "guru_test.json").write_text(json.dumps([{"title": "made_up_2", "focus": "Sharp eyes.",
                                                         "depth_of_field": ""}]))
    return folder


def test_counts_covered_uncovered_only_and_leaves_mood_out(tmp_path):
    folder = _made_up_pccd(tmp_path / "pccd")
    assert [s[1:4] for s in pccd_sentences(folder)] == [
        ("made_up_1", "composition", 0), ("made_up_1", "composition", 1), ("made_up_1", "color_lighting", 0),
        ("made_up_1", "color_lighting", 1), ("made_up_2", "focus", 0)]
    result = coverage(folder, ids=["horizon.tilted", "focus.subject_sharp"])
    # horizon and sharpness covered (2 of 5); the backlight sentence touches light only, uncovered;
    # the mood sentence and the greeting count in neither
    assert result["sentences"] == 5 and result["covered"] == 0.4 and result["uncovered_only"] == 0.2
    assert result["beyond_measurement"]["only"] == 0.2 and result["no_topic"] == 0.2
    assert result["topics"]["light"] == {**result["topics"]["light"], "covered": False, "rules": [], "share": 0.2}
    assert result["topics"]["mood"]["covered"] is None
    with_light = coverage(folder, ids=["horizon.tilted", "focus.subject_sharp", "light.backlit"])
    assert with_light["covered"] == 0.6 and with_light["uncovered_only"] == 0.0


def test_a_missing_folder_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match="PCCD critiques not found"):
        list(pccd_sentences(tmp_path))
    assert main(["critic", "coverage", "--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("asemllm: error: PCCD critiques not found") and "\n" not in err


def test_the_command_prints_the_json(tmp_path, capsys):
    assert main(["critic", "coverage", "--json", "--data", str(_made_up_pccd(tmp_path / "pccd"))]) == 0
    result = json.loads(capsys.readouterr().out)
    assert {"sentences", "covered", "uncovered_only", "beyond_measurement", "no_topic", "topics", "rules"} <= set(result)
    assert set(result["topics"]) == {t.name for t in TOPICS}
    assert all({"share", "covered", "rules", "sentences"} <= set(t) for t in result["topics"].values())
    assert main(["critic", "coverage", "--data", str(tmp_path / "pccd")]) == 0
    assert "covered" in capsys.readouterr().out


# ---- precision against the hand judgments (real PCCD text, read from ../shared/data) --------------
def test_the_tagger_keeps_its_hand_judged_precision(shared_data):
    judged = json.loads(JUDGED.read_text())["judged"]
    verdict = {(d["file"], d["title"], d["aspect"], d["sentence"], d["topic"]): (d["right"], d["set"]) for d in judged}
    sentences = {(f, t, a, i): s for f, t, a, i, s in pccd_sentences(shared_data / "pccd")}
    keys = {k[:4] for k in verdict}
    assert len(keys) >= 200 and keys <= set(sentences)
    now = [(*k, topic) for k in keys for topic in tag(sentences[k])]
    unjudged = [k for k in now if k not in verdict]
    assert not unjudged, f"tags nobody judged (judge them in {JUDGED.name}): {unjudged[:5]}"
    right = [verdict[k][0] for k in now]
    heldout = [verdict[k][0] for k in now if verdict[k][1] == "heldout"]
    assert sum(right) / len(right) >= PRECISION_ALL
    assert len(heldout) >= 100 and sum(heldout) / len(heldout) >= PRECISION_HELDOUT
