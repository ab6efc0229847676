"""`asemllm reproduce` end to end on tiny random models: a plumbing test, not a result.

The dataset is a csv built here: real photos (../shared/data/photos) with short descriptions written
here as their "critiques"; ASE-MLLM is the tiny random configuration trained for two steps, the
baseline a tiny random LLaVA. What is checked: every step runs and writes its output, the table holds
every system with intervals and paired tests against ASE-MLLM (iasm), and a second run skips every
step. No number from these runs means anything about any model.
"""

import csv
import json

import pytest

from asemllm.evaluation.baselines import system_name
from asemllm.evaluation.recipe import REFERENCE, reproduce
from made_up_texts import FAST

TRAIN = {"mate/LadyBird.jpg": "a red ladybird on a leaf", "mate/YellowFlower.jpg": "a yellow flower close up",
         "misc/grace_hopper.jpg": "a woman in navy uniform", "mate/Storm.jpg": "dark storm clouds above"}
TEST = {"mate/Aqua.jpg": "blue water", "mate/Dune.jpg": "a sand dune under the sky",
        "mate/Wood.jpg": "wood grain close up", "mate/GreenMeadow.jpg": "a green meadow"}
SOURCES = ("iasm", "none", "centre-bias", "random")


def _dataset(path, extra=()):
    rows = [(k, split, aspect, text if aspect == "composition" else text.upper())
            for split, photos in (("train", TRAIN), ("test", TEST)) for k, text in photos.items()
            for aspect in ("composition", "focus")]
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["image", "split", "aspect", "critique"])
        w.writerows([*rows, *extra])
    return path


def _config(path):
    from asemllm.config import tiny_config

    path.write_text(json.dumps({"out": "ignored", "model": tiny_config().to_dict(), "stage": "finetune",
                                "batch_size": 4, "lr": 3e-3, "max_steps": 2, "save_every": 2, "log_every": 1}))
    return path


@pytest.mark.slow  # trains (two steps) and scores five systems: about 40 s on 2 cores
def test_reproduce_plumbing_end_to_end(shared_data, tiny_llava, tmp_path, java, capsys):
    from asemllm.cli import main

    root, config, out = _dataset(tmp_path / "critiques.csv"), _config(tmp_path / "tiny.json"), tmp_path / "run"
    photos = str(shared_data / "photos")
    log = []
    result = reproduce(root, "csv", config, out, baselines=[tiny_llava], image_root=photos, batch_size=4,
                       max_new_tokens=4, metrics=FAST, resamples=200, log=log.append)
    llava = system_name(tiny_llava)
    assert result["systems_order"] == [f"ASE-MLLM ({s})" for s in SOURCES] + [llava]
    assert set(result["differences"]) == set(result["systems_order"]) - {REFERENCE}
    for name, d in result["differences"].items():
        assert d["unit"] == "photo" and (d["photos"], d["jobs"]) == (4, 8), name
        assert set(d["metrics"]) == set(result["systems"][REFERENCE]["corpus"]) == set(d["holds"]), name
    assert all(s["ci95"] for s in result["systems"].values())
    table = (out / "comparison.md").read_text()
    assert all(f"| {name} |" in table for name in result["systems_order"]) and "CIDEr-D" in table
    for path in ("data/test.jsonl", "data/check.json", "train/model", "eval/ase-mllm/results.json",
                 f"eval/{llava}/results.json", f"eval/{llava}/predictions-{llava}.jsonl", "comparison.json"):
        assert (out / path).exists(), path
    assert not any("skipped" in line for line in log)

    capsys.readouterr()
    argv = ["reproduce", "--format", "csv", "--root", str(root), "--image-root", photos, "--config", str(config),
            "--out", str(out), "--baselines", tiny_llava, "--json"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == result
    for step in ("convert", "check", "train", "evaluate ASE-MLLM", f"baseline {tiny_llava}", "compare"):
        assert f"{step}: skipped" in captured.err, step


def test_missing_train_photos_stop_the_recipe_before_training(shared_data, tmp_path, java):
    root = _dataset(tmp_path / "critiques.csv", extra=[("mate/NotThere.jpg", "train", "focus", "nothing")])
    with pytest.raises(ValueError, match=r"1 train photo\(s\) missing.*NotThere\.jpg"):
        reproduce(root, "csv", _config(tmp_path / "tiny.json"), tmp_path / "run",
                  image_root=str(shared_data / "photos"), log=lambda *_: None)
    assert not (tmp_path / "run" / "train").exists()
