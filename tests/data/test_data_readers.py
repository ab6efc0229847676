"""Dataset readers: PCCD on its real validation/test files, the other formats on small files
written here in each format's published layout (their real files are not available offline)."""

import json

import pytest

from asemllm.data.convert import FORMATS, read_dataset
from asemllm.data.records import ASPECTS, OVERALL, CritiqueRecord, read_jsonl, write_jsonl

# Non-empty critiques per aspect, counted once from the real files (and equal to the number of
# non-"N" aspect scores, which the reader also checks entry by entry).
PCCD_COUNTS = {
    "validation": (423, 2810, {"general_impression": 419, "subject_of_photo": 419, "composition": 421,
                               "use_of_camera": 376, "depth_of_field": 372, "color_lighting": 403, "focus": 400}),
    "test": (848, 5610, {"general_impression": 846, "subject_of_photo": 834, "composition": 844,
                         "use_of_camera": 738, "depth_of_field": 731, "color_lighting": 806, "focus": 811}),
}


def write(path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(obj if isinstance(obj, str) else json.dumps(obj), encoding="utf-8")
    return path


def by_id(conv):
    return {(r.split, r.id): r for r in conv.records}


# ---------------------------------------------------------------- PCCD, real files


@pytest.fixture(scope="module")
def pccd(shared_data):
    return read_dataset("pccd", shared_data / "pccd")


@pytest.mark.parametrize("split", ["validation", "test"])
def test_pccd_real_counts(pccd, split):
    n_records, n_critiques, per_aspect = PCCD_COUNTS[split]
    recs = [r for r in pccd.records if r.split == split]
    assert len(recs) == n_records
    assert sum(len(t) for r in recs for t in r.critiques.values()) == n_critiques
    assert {a: sum(a in r.critiques for r in recs) for a in ASPECTS} == per_aspect
    # one critique per filled aspect, stripped and non-empty
    assert all(len(t) == 1 and t[0] == t[0].strip() and t[0] for r in recs for t in r.critiques.values())


def test_pccd_real_scores_and_fields(pccd):
    assert pccd.issues == []  # in particular no critique/score disagreement: the score order holds
    assert pccd.aspects == ASPECTS
    assert not any(r.split == "train" for r in pccd.records)  # guru_train.json is not here: skipped
    for r in pccd.records:
        assert set(r.scores) - {OVERALL} == set(r.critiques)  # "N" exactly where the critique is empty
        assert 1 <= r.scores[OVERALL] <= 10
        assert r.image == f"images/full/{r.id}.jpg"
    first = pccd.records[0]  # guru_validation.json's first record, scores "8 10 7 9 9 8 9", overall 8.6
    assert first.id == "14_winter-wonderland-1"
    assert [first.scores[a] for a in ASPECTS] == [8, 10, 7, 9, 9, 8, 9] and first.scores[OVERALL] == 8.6
    assert first.meta["category"] == "nature-photography" and "reviewer" in first.meta
    # records with 0, 1, 2, 3 skipped aspects ("N"), validation and test together
    assert [sum(7 - len(r.critiques) == k for r in pccd.records) for k in range(4)] == [908, 251, 110, 2]


def test_pccd_missing_aspect_counts(pccd):
    # (record, aspect) slots with "N": 151 in validation, 326 in test
    for split, n in (("validation", 151), ("test", 326)):
        assert sum(7 - len(r.critiques) for r in pccd.records if r.split == split) == n


# ---------------------------------------------------------------- PCCD, written files


def pccd_entry(title, **fields):
    entry = {"title": title, "category": "c", "score": ["8"] * 7, "overall": "8",
             **{a: f"{a} text" for a in ASPECTS}}
    entry.update(fields)
    return entry


def test_pccd_string_scores_bad_entries_and_missing_files(tmp_path):
    write(tmp_path / "guru_test.json", [
        pccd_entry("a", score="['7', 'N', '9', '10', '6', '5', '8']", subject_of_photo="  "),
        pccd_entry("b", focus=None),             # focus skipped, but scored: flagged, kept
        pccd_entry("c", score=["1", "2"]),       # wrong number of scores: flagged, kept
        pccd_entry("d", overall="x"),
        {"category": "no title"}, "not an object",
        pccd_entry("e", **{a: "" for a in ASPECTS}, score=["N"] * 7),  # nothing written: dropped
    ])
    conv = read_dataset("pccd", tmp_path)
    recs = by_id(conv)
    assert sorted(i for _, i in recs) == ["a", "b", "c", "d"]
    a = recs["test", "a"]
    assert "subject_of_photo" not in a.critiques and "subject_of_photo" not in a.scores
    assert a.scores["general_impression"] == 7 and a.scores["focus"] == 8
    assert recs["test", "c"].scores == {OVERALL: 8.0}
    reasons = [r for _, r in conv.issues]
    assert any("focus: critique empty but score '8'" in r for r in reasons)
    assert any("expected 7 values" in r for r in reasons)
    assert any("overall: not a number" in r for r in reasons)
    assert ("guru_test.json[4]", "no title") in conv.issues
    assert ("guru_test.json[5]", "not a JSON object") in conv.issues
    assert ("e", "no critique text") in conv.issues


def test_pccd_errors(tmp_path):
    with pytest.raises(ValueError, match=str(tmp_path)):
        read_dataset("pccd", tmp_path)
    with pytest.raises(FileNotFoundError, match="nowhere"):
        read_dataset("pccd", tmp_path / "nowhere")
    with pytest.raises(ValueError, match="unknown dataset format"):
        read_dataset("flickr", tmp_path)
    write(tmp_path / "guru_validation.json", "{not json")
    conv = read_dataset("pccd", tmp_path)  # a broken file is an issue, not a crash
    assert conv.records == [] and "unreadable JSON" in conv.issues[0][1]


# ---------------------------------------------------------------- DPC2022 (ARIC)


def test_dpc2022(tmp_path):
    ann = tmp_path / "anotation"
    write(ann / "clean_and_all_score" / "1.json", {"ID": "1", "avg_all_users_score": 5.31,
                                                   "clean_comments": ["nice light", " ", "good crop "]})
    write(ann / "clean_and_all_score" / "2.json", {"ID": "2", "avg_all_users_score": "6",
                                                   "clean_comments": [{"comment": "too dark"}, {"text": "sharp"}]})
    write(ann / "clean_and_all_score" / "3.json", {"ID": "3", "clean_comments": [], "score_comments": [
        {"comment": {"comment": "lovely colours", "length": 2}, "sum_score": 3.1}]})
    write(ann / "clean_and_all_score" / "4.json", "[broken")
    write(ann / "train" / "train.csv", "ID,score\n1.0,5.3\n2,6.0\n2,6.0\n")
    write(ann / "test_and_val" / "val.csv", "ID,score\n3,4\n")
    write(ann / "test_and_val" / "test.csv", "ID,score\n4,4\n9,5\n")
    conv = read_dataset("dpc2022", tmp_path)
    recs = by_id(conv)
    assert set(recs) == {("train", "1"), ("train", "2"), ("validation", "3")}
    assert recs["train", "1"].critiques == {OVERALL: ["nice light", "good crop"]}
    assert recs["train", "1"].scores == {OVERALL: 5.31} and recs["train", "1"].image == "img_256x256/1.jpg"
    assert recs["train", "2"].critiques[OVERALL] == ["too dark", "sharp"]
    assert recs["validation", "3"].critiques[OVERALL] == ["lovely colours"]
    assert recs["validation", "3"].meta["comment_source"] == "score_comments"
    assert ("9", "listed in test.csv but no 9.json found") in conv.issues
    assert any("unreadable JSON" in r for _, r in conv.issues)
    assert conv.aspects == (OVERALL,)
    with pytest.raises(ValueError, match="split csv"):
        read_dataset("dpc2022", ann / "clean_and_all_score")


# ---------------------------------------------------------------- AVA-Captions, DPC-Captions


def test_ava_captions_karpathy(tmp_path):
    write(tmp_path / "CLEAN_AVA_FULL_COMMENTS.json", {"dataset": "AVA", "images": [
        {"filename": "953619.jpg", "imgid": 953619, "split": "train", "filepath": "",
         "sentences": [{"raw": "Great colours.", "clean": "great colours", "tokens": ["great"]}, {"raw": "x "}]},
        {"file_name": "10.jpg", "split": "val", "sentences": ["too soft"]},
        {"filename": "11.jpg", "split": "restval", "sentences": [{"raw": "ok"}]},
        {"filename": "12.jpg", "split": "holdout", "sentences": [{"raw": "?"}]},
        {"filename": "13.jpg", "split": "test", "sentences": []},
        {"imgid": 14, "split": "test", "sentences": [{"raw": "sharp"}]},
    ]})
    conv = read_dataset("ava-captions", tmp_path)
    recs = by_id(conv)
    assert set(recs) == {("train", "953619"), ("validation", "10"), ("train", "11"), ("test", "14")}
    assert recs["train", "953619"].critiques == {OVERALL: ["Great colours.", "x"]}
    assert recs["test", "14"].image == "14.jpg"
    reasons = dict(conv.issues)
    assert reasons["CLEAN_AVA_FULL_COMMENTS.json[3]"] == "unknown split 'holdout'"
    assert reasons["13"] == "no critique text"


def test_ava_captions_coco_and_dict(tmp_path):
    write(tmp_path / "captions_val.json", {
        "images": [{"id": 5, "file_name": "5.jpg"}, {"id": 6, "file_name": "6.jpg"}],
        "annotations": [{"image_id": 5, "caption": "a"}, {"image_id": 5, "caption": "b"},
                        {"image_id": 6, "caption": "c"}]})
    write(tmp_path / "test.json", {"7.jpg": ["nice"], "8": ["meh", "fine"]})
    conv = read_dataset("ava-captions", tmp_path)
    recs = by_id(conv)
    assert recs["validation", "5"].critiques == {OVERALL: ["a", "b"]}
    assert recs["test", "8"].critiques == {OVERALL: ["meh", "fine"]} and recs["test", "8"].image == "8.jpg"
    assert len(conv.records) == 4 and conv.issues == []
    assert read_dataset("ava-captions", tmp_path / "test.json").records[0].id == "7"  # a file root


def test_dpc_captions_attribute_files(tmp_path):
    write(tmp_path / "color_lighting.json", {"11170.jpg": ["warm tones"], "60705.jpg": ["too dark", "dark"]})
    write(tmp_path / "impression_and_subject.json", {"11170.jpg": ["the sign is not the subject"]})
    write(tmp_path / "depth_and_focus.json", {"11170.jpg": ["shallow dof works"]})
    conv = read_dataset("dpc-captions", tmp_path)
    recs = by_id(conv)
    assert recs["train", "11170"].critiques == {"color_lighting": ["warm tones"],
                                                "general_impression": ["the sign is not the subject"],
                                                "depth_of_field": ["shallow dof works"]}
    assert len(conv.records) == 2
    assert conv.aspects == ("general_impression", "depth_of_field", "color_lighting")
    assert all("put in 'train'" in r for _, r in conv.issues) and len(conv.issues) == 3  # one per file


def test_dpc_captions_aestheval_list(tmp_path):
    write(tmp_path / "dpc.json", [
        {"im_name": "1.jpg", "split": "test", "composition": ["centred"], "use_of_camera": "iso too high",
         "depth_and_focus": [], "focus": ["soft"]},
        {"im_name": "2.jpg", "split": "validation", "comments": ["plain"]},
        {"split": "test", "composition": ["no image name"]},
    ])
    conv = read_dataset("dpc-captions", tmp_path)
    recs = by_id(conv)
    assert recs["test", "1"].critiques == {"composition": ["centred"], "use_of_camera": ["iso too high"],
                                           "focus": ["soft"]}
    assert recs["validation", "2"].critiques == {OVERALL: ["plain"]}
    assert conv.issues == [("dpc.json[2]", "no image name")]


# ---------------------------------------------------------------- RPCD


def test_rpcd(tmp_path):
    write(tmp_path / "processed_train.json", [
        {"im_paths": "submission_abc-image.jpg", "im_id": "abc", "mean_score": 0.62, "score": 41,
         "title": "first landscape", "first_level_comments_values": ["Horizon is tilted.", "[deleted]"],
         "aspect_prediction": [[{"label": "composition", "score": 0.9}]]},
        {"im_paths": "submission_def-image.png", "first_level_comments_values": ["[removed]"]},
        {"first_level_comments_values": ["no photo"]},
    ])
    write(tmp_path / "processed_test.json", [
        {"im_path": "x/ghi.jpg", "comments": [{"text": "Lovely", "sentiment": 0.9}, {"body": "crop it"}]}])
    write(tmp_path / "processed_validation.json", {"im_paths": ["v1.jpg", "v2.jpg"],
                                                   "first_level_comments_values": [["good"], ["bad", "ugly"]]})
    write(tmp_path / "notes.json", {"ignored": True})  # names no split: not an RPCD file
    conv = read_dataset("rpcd", tmp_path)
    recs = by_id(conv)
    abc = recs["train", "abc"]
    assert abc.critiques == {OVERALL: ["Horizon is tilted."]} and abc.scores == {OVERALL: pytest.approx(6.2)}
    assert abc.meta["score"] == 41 and "aspect_prediction" not in abc.meta
    assert recs["test", "ghi"].critiques == {OVERALL: ["Lovely", "crop it"]}
    assert recs["validation", "v2"].critiques == {OVERALL: ["bad", "ugly"]}
    assert dict(conv.issues) == {"submission_def-image": "no critique text",
                                 "processed_train.json[2]": "no photo path"}


# ---------------------------------------------------------------- our jsonl, generic csv


def test_jsonl_round_trip(tmp_path):
    recs = [CritiqueRecord("a/1", "images/é 1.jpg", "train", {"composition": ["Nice “lines”"], OVERALL: ["ok"]},
                           {"composition": 7.0, OVERALL: 6.55}, {"category": "x", "n": [1, 2]}),
            CritiqueRecord("2", "/abs/2.jpg", "test", {"focus": ["soft"]})]
    assert write_jsonl(recs, tmp_path / "out" / "all.jsonl") == 2
    assert read_jsonl(tmp_path / "out" / "all.jsonl") == recs
    lines = (tmp_path / "out" / "all.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and "é" in lines[0]  # one object a line, not ASCII-escaped
    # the folder reader: records back, bad lines counted
    with (tmp_path / "out" / "all.jsonl").open("a", encoding="utf-8") as f:
        f.write("{oops\n" + json.dumps({"id": "3", "image": "3.jpg", "split": "dev", "critiques": {}}) + "\n")
    conv = read_dataset("jsonl", tmp_path / "out")
    assert conv.records == recs
    assert [w for w, _ in conv.issues] == ["all.jsonl:3", "all.jsonl:4"]
    with pytest.raises(ValueError, match="all.jsonl:3"):
        read_jsonl(tmp_path / "out" / "all.jsonl")


def test_csv(tmp_path):
    write(tmp_path / "crit.csv", "image,split,aspect,critique,id\n"
          "a.jpg,train,composition,Tilted horizon,\n"
          "a.jpg,train,focus,Soft,\n"
          "a.jpg,train,composition,Crop tighter,\n"
          "b.jpg,val,overall,\"Nice, calm\",B\n"
          "c.jpg,holdout,overall,x,\n"
          "d.jpg,test,mood,x,\n"
          "e.jpg,test,overall,,\n")
    write(tmp_path / "other.csv", "path,text\nq,r\n")
    conv = read_dataset("csv", tmp_path)
    recs = by_id(conv)
    assert recs["train", "a.jpg"].critiques == {"composition": ["Tilted horizon", "Crop tighter"], "focus": ["Soft"]}
    assert recs["validation", "B"].critiques == {OVERALL: ["Nice, calm"]} and recs["validation", "B"].image == "b.jpg"
    assert dict(conv.issues) == {"crit.csv:6": "unknown split 'holdout'", "crit.csv:7": "unknown aspect 'mood'",
                                 "crit.csv:8": "empty critique",
                                 str(tmp_path / "other.csv"): "needs columns image,split,aspect,critique; has path,text"}


def test_every_format_names_root_when_empty(tmp_path):
    for fmt in FORMATS:
        with pytest.raises(ValueError, match=str(tmp_path)):
            read_dataset(fmt, tmp_path)
