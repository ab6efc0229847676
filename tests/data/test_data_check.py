"""The dataset check report and the `asemllm data` commands, on the real PCCD annotation files.

PCCD's photos are not available offline. The photo tests link a few real, freely licensed photos
(../shared/data/photos) under PCCD titles: that exercises only the file bookkeeping (found, missing,
unreadable), not the pairing of a photo with its critique - those photos are not PCCD's.
"""

import json
import shutil

import pytest

from asemllm.cli import main
from asemllm.data.check import check, convert_to_jsonl, photo_status
from asemllm.data.convert import read_dataset
from asemllm.data.records import read_jsonl

SPLIT_KEYS = {"records", "critiques", "critiques_per_aspect", "photos_found", "photos_missing",
              "photos_unreadable", "empty_critiques", "duplicates", "repeated_texts", "missing_examples",
              "unreadable_examples"}
TOP_KEYS = {"format", "root", "photos_root", "aspects", "splits", "cross_split", "issues", "issue_examples"}


@pytest.fixture
def pccd_copy(shared_data, tmp_path):
    """An editable copy of the real guru_validation.json and guru_test.json."""
    root = tmp_path / "pccd"
    root.mkdir()
    for split in ("validation", "test"):
        shutil.copy(shared_data / "pccd" / f"guru_{split}.json", root / f"guru_{split}.json")
    return root


def load(path):
    return json.loads(path.read_text(encoding="utf-8"))


def test_real_pccd_without_photos(shared_data):
    rep = check("pccd", shared_data / "pccd")
    assert set(rep) == TOP_KEYS and list(rep["splits"]) == ["validation", "test"]
    val, test = rep["splits"]["validation"], rep["splits"]["test"]
    assert set(val) == SPLIT_KEYS
    assert (val["records"], val["critiques"], test["records"], test["critiques"]) == (423, 2810, 848, 5610)
    assert (val["photos_missing"], val["photos_found"], val["photos_unreadable"]) == (423, 0, 0)
    assert test["photos_missing"] == 848 and len(test["missing_examples"]) == 20
    assert (val["empty_critiques"], test["empty_critiques"]) == (151, 326)  # the "N" slots
    assert (val["duplicates"], test["duplicates"], rep["cross_split"], rep["issues"]) == (0, 0, 0, 0)
    # reviewers repeating a stock phrase ("Spot on.") under two aspects of one photo
    assert (val["repeated_texts"], test["repeated_texts"]) == (14, 20)
    json.dumps(rep)  # serialisable as is


def test_real_pccd_photo_bookkeeping(shared_data, tmp_path):
    titles = [r["title"] for r in load(shared_data / "pccd" / "guru_validation.json")[:4]]
    full = tmp_path / "images" / "full"
    full.mkdir(parents=True)
    # real photos, but not these titles' photos: this checks bookkeeping only, not pairing
    for title, photo in zip(titles, ["Aqua.jpg", "Dune.jpg", "Storm.jpg"]):
        (full / f"{title}.jpg").symlink_to(shared_data / "photos" / "mate" / photo)
    (full / f"{titles[3]}.jpg").touch()  # zero bytes
    rep = check("pccd", shared_data / "pccd", photos_root=tmp_path)
    val = rep["splits"]["validation"]
    assert (val["photos_found"], val["photos_unreadable"], val["photos_missing"]) == (3, 1, 423 - 4)
    assert val["unreadable_examples"] == [str(full / f"{titles[3]}.jpg")]
    assert str(full / f"{titles[0]}.jpg") not in val["missing_examples"]
    assert rep["splits"]["test"]["photos_missing"] == 848
    # a folder holding the photos themselves works too (lookup by file name)
    assert check("pccd", shared_data / "pccd", photos_root=full)["splits"]["validation"]["photos_found"] == 3


def test_photo_status_kinds(shared_data, tmp_path):
    (tmp_path / "garbage.jpg").write_bytes(b"\xff\xd8 not really a jpeg" * 10)
    (tmp_path / "dir.jpg").mkdir()
    (tmp_path / "dangling.jpg").symlink_to(tmp_path / "gone.jpg")
    jpeg = (shared_data / "photos" / "mate" / "Aqua.jpg").read_bytes()
    (tmp_path / "head.jpg").write_bytes(jpeg[:200])
    (tmp_path / "half.jpg").write_bytes(jpeg[:len(jpeg) // 2])
    assert photo_status(shared_data / "photos" / "misc" / "face.png") == "found"
    assert photo_status(tmp_path / "garbage.jpg") == "unreadable"
    assert photo_status(tmp_path / "dir.jpg") == "unreadable"
    assert photo_status(tmp_path / "head.jpg") == "unreadable"  # cut inside the headers
    # Image.verify() checks headers and structure without decoding: a JPEG cut in its pixel data
    # passes. A known limit of the check (decoding every photo would cost a full read of each).
    assert photo_status(tmp_path / "half.jpg") == "found"
    assert photo_status(tmp_path / "dangling.jpg") == "missing"
    assert photo_status(tmp_path / ("x" * 300 + ".jpg")) == "missing"  # a name too long for the file system


def test_cross_split_and_duplicates(pccd_copy):
    val = load(pccd_copy / "guru_validation.json")
    test = load(pccd_copy / "guru_test.json")
    test[0]["title"] = val[0]["title"]   # the same photo in validation and test
    val.append(dict(val[5]))             # a record listed twice in validation
    (pccd_copy / "guru_validation.json").write_text(json.dumps(val))
    (pccd_copy / "guru_test.json").write_text(json.dumps(test))
    rep = check("pccd", pccd_copy)
    assert rep["cross_split"] == 1
    assert rep["splits"]["validation"]["duplicates"] == 1 and rep["splits"]["validation"]["records"] == 424
    assert rep["splits"]["validation"]["photos_missing"] == 423  # distinct photos
    assert rep["splits"]["test"]["duplicates"] == 0


def test_convert_to_jsonl(shared_data, tmp_path):
    rep = convert_to_jsonl("pccd", shared_data / "pccd", tmp_path / "out")
    assert rep["written"] == {s: str(tmp_path / "out" / f"{s}.jsonl") for s in ("validation", "test")}
    assert rep["splits"]["test"]["records"] == 848
    original = read_dataset("pccd", shared_data / "pccd").records
    assert read_jsonl(tmp_path / "out" / "validation.jsonl") + read_jsonl(tmp_path / "out" / "test.jsonl") == original
    # and the written files are themselves a dataset
    again = check("jsonl", tmp_path / "out")
    assert again["splits"]["validation"]["critiques"] == 2810 and again["issues"] == 0
    # jsonl datasets name their aspects from what they hold: all seven here
    assert len(again["aspects"]) == 7 and again["splits"]["test"]["empty_critiques"] == 326


def test_cli_check_json(shared_data, capsys):
    assert main(["data", "check", "--format", "pccd", "--root", str(shared_data / "pccd"), "--json"]) == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1  # one JSON object on one line
    rep = json.loads(out)
    assert set(rep) == TOP_KEYS and set(rep["splits"]["validation"]) == SPLIT_KEYS
    assert rep["splits"]["validation"]["photos_missing"] == 423


def test_cli_table_and_convert(shared_data, tmp_path, capsys):
    assert main(["data", "check", "--format", "pccd", "--root", str(shared_data / "pccd")]) == 0
    table = capsys.readouterr().out
    assert "validation" in table and "2810" in table and "missing" in table
    assert main(["data", "convert", "--format", "pccd", "--root", str(shared_data / "pccd"),
                 "--out", str(tmp_path / "o")]) == 0
    assert f"wrote {tmp_path / 'o' / 'test.jsonl'} (848 records)" in capsys.readouterr().out


def test_cli_bad_root(tmp_path, capsys):
    for root in (tmp_path / "nowhere", tmp_path):  # missing, and present but holding no PCCD file
        assert main(["data", "check", "--format", "pccd", "--root", str(root), "--json"]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""
        assert captured.err.count("\n") == 1 and str(root) in captured.err
    assert main(["data", "check", "--format", "nope", "--root", str(tmp_path)]) == 2
    assert "unknown dataset format" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:  # no --out: a usage error
        main(["data", "convert", "--format", "csv", "--root", str(tmp_path)])
    assert exit_.value.code == 2 and "--out" in capsys.readouterr().err
