"""The critic a person uses: `asemllm.load().critique(...)` and `asemllm critique` on real photos."""

import json

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
        assert set(r) == {"image", "critique", "overall", "attributes", "content", "saliency", "model", "timings"}
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

    rgb = data.coffee().astype(np.float64) / 255
    dark = np.where(rgb <= 0.04045, rgb / 12.92, ((rgb + 0.055) / 1.055) ** 2.4) * 0.25  # linear light x 1/4
    dark = np.where(dark <= 0.0031308, dark * 12.92, 1.055 * dark ** (1 / 2.4) - 0.055)
    darkened = np.uint8(np.round(dark * 255))
    said = critic.critique(darkened, aspects=["use_of_camera"])["critique"]["use_of_camera"]
    original = critic.critique(data.coffee(), aspects=["use_of_camera"])["critique"]["use_of_camera"]
    assert "exposure.dark" in [rule for rule, _ in check_claims(said, {})]
    assert "exposure.dark" not in [rule for rule, _ in check_claims(original, {})]


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
