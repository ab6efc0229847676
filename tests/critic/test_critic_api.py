"""The critic a person uses: `asemllm.load().critique(...)` and `asemllm critique` on real photos."""

import json
import re

import numpy as np
import pytest
from PIL import Image

import asemllm
from asemllm.cli import main


@pytest.fixture(scope="module")
def critic():
    return asemllm.load()


def test_critique_fields_for_path_pil_and_array(critic, shared_data, tmp_path):
    path = shared_data / "photos" / "mate" / "LadyBird.jpg"
    photo = Image.open(path)
    for image in (path, photo, np.asarray(photo.convert("RGB"))):
        r = critic.critique(image, overlay_dir=tmp_path)
        assert set(r) == {"image", "critique", "overall", "claims", "attributes", "content", "saliency", "model",
                          "timings"}
        assert set(r["claims"]) == set(r["critique"])
        for claims in r["claims"].values():  # each claim checked against this photo's numbers
            for c in claims:
                assert set(c) == {"claim", "backed", "evidence"} and c["evidence"]
                assert all(r["attributes"][n]["value"] == v for n, v in c["evidence"].items())
        assert len(r["critique"]) == 7 and all(t.strip() for t in r["critique"].values())
        assert {"value", "unit", "level"} <= set(r["attributes"]["exposure_ev"])
        x, y = r["saliency"]["peak"]
        assert 0 <= x < photo.width and 0 <= y < photo.height
        assert Image.open(r["saliency"]["overlay"]).size == photo.size
    json.dumps(r)


def test_darkened_photo_is_called_underexposed_and_the_original_is_not(critic):
    """A controlled edit: the same photo 2 stops darker; the critique must report it."""
    from skimage import data

    from asemllm.critic.teacher import check_claims

    said = critic.critique(_darkened_coffee(), aspects=["use_of_camera"])["critique"]["use_of_camera"]
    original = critic.critique(data.coffee(), aspects=["use_of_camera"])["critique"]["use_of_camera"]
    assert "exposure.dark" in [rule for rule, _ in check_claims(said, {})]
    assert "exposure.dark" not in [rule for rule, _ in check_claims(original, {})]


def _darkened_coffee() -> np.ndarray:
    """scikit-image's coffee() 2 stops darker (linear light x 1/4), as uint8 sRGB."""
    from skimage import data

    rgb = data.coffee().astype(np.float64) / 255
    dark = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4) * 0.25
    dark = np.where(dark <= 0.0031308, dark * 12.92, 1.055 * dark ** (1 / 2.4) - 0.055)
    return np.uint8(np.round(dark * 255))


def test_a_bf16_critic_decides_the_same_findings_and_still_reports_an_edit(critic):
    """`precision="bf16"` casts the language model alone: the float32 head over the image tokens
    must give the same findings prompts, the record must say which precision wrote it, and the
    darkened photo must still be called dark."""
    import torch
    from skimage import data

    from asemllm.critic.findings import prompts
    from asemllm.critic.teacher import ASPECTS, check_claims

    half = asemllm.load(precision="bf16")
    assert half.model.lm.get_input_embeddings().weight.dtype == torch.bfloat16
    assert all(p.dtype == torch.float32 for p in half.model.vision.parameters())
    photos = [Image.fromarray(data.camera()).convert("RGB"), Image.fromarray(_darkened_coffee())]
    with torch.no_grad():
        assert prompts(half.model, photos, ASPECTS) == prompts(critic.model, photos, ASPECTS)
    r = half.critique(photos[1], aspects=["use_of_camera"])
    assert r["model"].endswith("language model in bf16")
    assert "exposure.dark" in [rule for rule, _ in check_claims(r["critique"]["use_of_camera"], {})]


def test_a_batch_gives_each_photo_what_it_gets_alone(critic):
    """A batch measures its photos on several cores and decodes them as one batch (prompts read in
    groups of similar length): each photo's record must be what critiquing it alone gives (the
    saliency network's floats differ in the last digits with the batch size)."""
    from skimage import data

    def claims(record):
        return {a: [(c["claim"], c["backed"]) for c in cs] for a, cs in record["claims"].items()}

    photos = [data.astronaut(), data.coffee(), data.camera()]
    batch = critic.critique_batch(photos)
    for photo, got in zip(photos, batch):
        alone = critic.critique(photo)
        assert got["critique"] == alone["critique"] and claims(got) == claims(alone)
        assert got["content"]["label"] == alone["content"]["label"]
        assert got["content"]["confidence"] == pytest.approx(alone["content"]["confidence"], abs=1e-3)
        assert {k: a["level"] for k, a in got["attributes"].items()} == \
            {k: a["level"] for k, a in alone["attributes"].items()}
        # values to 0.2%: a region cut from the saliency at a mass threshold (the backlight's 40%
        # core around the cameraman's face) gains or loses a few pixels with those last digits
        for k, a in got["attributes"].items():
            value = alone["attributes"][k]["value"]  # None: not measurable on this photo
            assert a["value"] == (value if value is None else pytest.approx(value, rel=2e-3, abs=1e-6)), k


def test_cli_folder_goes_on_past_a_bad_file_and_resumes(shared_data, tmp_path, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "ladybird.jpg").symlink_to(shared_data / "photos" / "mate" / "LadyBird.jpg")
    (folder / "empty.jpg").write_bytes(b"")
    out = tmp_path / "critiques.jsonl"
    assert main(["critique", str(folder), "--json", "--out", str(out), "--aspects", "composition"]) == 1
    captured = capsys.readouterr()
    assert captured.err.count("asemllm: skip") == 1 and "empty.jpg" in captured.err
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [Path_name(r["image"]) for r in rows] == ["ladybird.jpg"]
    assert list(rows[0]["critique"]) == ["composition"]
    main(["critique", str(folder), "--json", "--out", str(out)])  # resume: nothing new to do
    assert len(out.read_text().splitlines()) == 1


def Path_name(p: str) -> str:
    from pathlib import Path

    return Path(p).name


def test_the_numbers_in_the_critique_are_the_measured_ones(critic):
    """The language model writes its own guesses of the numbers ("about 12%" where 1.3% is
    measured) and now and then a garbled sentence; the critique shows the measured numbers, in
    every aspect, and only sentences that make a claim."""
    from skimage import data

    from asemllm.critic.teacher import recognise, restate_numbers, sentences

    r = critic.critique(data.astronaut())
    measured = {k: a["value"] for k, a in r["attributes"].items()}
    found = 0
    for aspect, text in r["critique"].items():
        _, n, same = restate_numbers(text, measured)
        if critic.model is not None:  # and every sentence states a claim the checker knows
            assert all(recognise(s) for s in sentences(text)), (aspect, text)
        assert n == same, (aspect, text, measured)
        found += n
    if critic.model is not None:  # the teacher's numbers are measured by construction
        assert found, r["critique"]  # the astronaut's clipped highlights are stated with a number
        assert not any("lora" in name for name, _ in critic.model.lm.named_parameters())  # folded at load


def test_as_checked_drops_sentences_without_a_known_claim_and_restates_numbers():
    from asemllm.critic.api import as_checked

    measured = {"highlights_clipped": 1.3, "exposure_ev": 0.2}
    text = ("The exposure is well judged. The tonal values hover around the picture. "
            "About 12% of the frame is blown out to pure white.")
    assert as_checked(text, measured) == "The exposure is well judged. About 1% of the frame is blown out to pure white."
    assert as_checked("Nothing here is a known claim.", measured) == "Nothing here is a known claim."


def test_as_checked_drops_sentences_that_only_hold_a_key_phrase():
    """A garble that holds a claim's key phrase ("well exposed", "contrast is well balanced") but
    says something the measurements do not back is not shown; the teacher's own sentences are,
    whatever their numbers."""
    from asemllm.critic.api import as_checked

    measured = {"exposure_ev": 0.2, "contrast": 0.2, "shadows_crushed": 14.0}
    text = ("The shadows are well exposed. The shadows are deep and the contrast is well balanced. "
            "The exposure is well judged. About 3% of the frame is crushed to pure black.")
    assert as_checked(text, measured) == "The exposure is well judged. About 14% of the frame is crushed to pure black."


def test_every_sentence_the_teacher_writes_is_one_it_can_write(shared_data):
    import random

    from asemllm.critic.attributes import measure
    from asemllm.critic.teacher import critique_all, sentences
    from asemllm.critic.vocabulary import is_teacher_sentence
    from asemllm.images import load_image

    folder = shared_data / "saliency" / "nus_scene" / "data" / "stimuli"
    for n in ("413", "461", "485"):
        for c in critique_all(measure(load_image(folder / f"{n}.jpg")), random.Random(n)).values():
            assert all(is_teacher_sentence(s) for s in sentences(c.text)), c.text
    assert not is_teacher_sentence("The shadows are well exposed.")


def test_cli_text_says_which_claims_the_measurements_back(shared_data, capsys):
    from asemllm.cli import _backed

    photo = shared_data / "photos" / "mate" / "LadyBird.jpg"
    assert main(["critique", str(photo), "--model", "teacher", "--aspects", "composition", "focus"]) == 0
    out = capsys.readouterr().out
    lines = [x for x in out.splitlines() if x.startswith(("Composition:", "Focus:"))]
    # what is not in the photo (no horizon, no EXIF) is named once, not listed as values "n/a"
    assert "n/a" not in out and len(re.findall(r"^  not measured: ", out, flags=re.M)) <= 1, out
    assert len(lines) == 2 and all(re.search(r"\[(its claim is|all \d+ claims) backed by the measurements\]$", x)
                                   for x in lines), lines  # the teacher's claims are all backed
    mixed = [{"claim": "dof.moderate", "backed": False}, {"claim": "focus.sharp", "backed": True}]
    assert _backed(mixed) == " [1 of 2 claims backed by the measurements; not: dof.moderate]"


def test_the_bundled_critic_decodes_over_the_teachers_vocabulary(critic):
    """Its output layer keeps the teacher's few hundred tokens (and the end of turn), and what it
    writes with them is still the teacher's claims."""
    from skimage import data

    from asemllm.critic.teacher import check_claims

    model = critic.model
    assert model is not None and 300 < len(model.output_ids) < 1500
    assert model.lm.get_output_embeddings().weight.shape[0] == len(model.output_ids)
    assert model._eos_ids() <= set(model.output_ids.tolist())
    text = critic.critique(data.camera(), aspects=["use_of_camera"])["critique"]["use_of_camera"]
    assert check_claims(text, {}), text


def test_precision_errors_name_the_value(capsys):
    with pytest.raises(ValueError, match="precision 'fp16'"):
        asemllm.load(precision="fp16")
    assert main(["critique", "--model", "teacher", "--precision", "bf16", "photo.jpg"]) == 2
    assert capsys.readouterr().err.strip() == ("asemllm: error: precision 'bf16': the teacher has no language "
                                               "model to run in it")


def test_bf16_warns_on_a_cpu_without_native_bf16_and_only_there(monkeypatch, recwarn):
    from asemllm.critic import api

    for native, warns in ((False, 1), (True, 0), (None, 0)):  # None: torch cannot tell (not x86)
        recwarn.clear()
        monkeypatch.setattr(api, "native_bf16", lambda: native)
        api._warn_without_native_bf16()
        assert len(recwarn) == warns and all("no native bfloat16" in str(w.message) for w in recwarn)
    assert api.native_bf16() in (True, False, None)
