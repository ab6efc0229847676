"""The README's commands and Python example run as written (from the repository root).

A command line that ends in a comment starting "not run by the tests:" says why it is skipped
(a GPU, the network, photos we do not have); every other `asemllm` line runs here.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
SKIP = "not run by the tests:"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def _lines() -> list[tuple[str, str]]:
    """(command, comment) for every asemllm line of the bash blocks."""
    out = []
    for block in _blocks("bash"):
        for line in block.splitlines():
            command, _, comment = line.partition("#")
            if command.strip().startswith("asemllm "):
                out.append((command.strip(), comment.strip()))
    return out


def test_readme_names_the_two_commands_and_says_why_it_skips():
    text = README.read_text()
    assert "make test" in text and "make demo" in text
    run = [c for c, why in _lines() if not why.startswith(SKIP)]
    assert len(run) >= 5
    for command, why in _lines():
        if why.startswith(SKIP):
            assert len(why) > len(SKIP) + 5, command  # a reason, not just the marker


def _shared() -> Path:
    return Path(os.environ.get("ASEMLLM_SHARED_DATA") or REPO.parent / "shared" / "data")


def _run(command: str) -> str:
    command = command.replace("../shared/data", str(_shared()))  # CI may keep the data elsewhere
    exe = Path(sys.executable).parent / "asemllm"
    res = subprocess.run([str(exe), *command.split()[1:]], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert res.returncode == 0, f"{command}: {res.stderr[-2000:]}"
    return res.stdout


@pytest.mark.slow
@pytest.mark.parametrize("command", [c for c, why in _lines() if not why.startswith(SKIP)])
def test_readme_command_runs(command):
    if "../shared" in command and not _shared().is_dir():
        pytest.skip(f"the README's example data is not at {_shared()} (set ASEMLLM_SHARED_DATA)")
    out = _run(command)
    if "asemllm critique" in command and "--json" in command:  # JSON lines, one per photo
        rows = [json.loads(line) for line in out.splitlines()]
        assert len(rows) >= 10 and all(len(r["critique"]) == 2 for r in rows)
    elif "--json" in command:
        result = json.loads(out)
        if command.startswith("asemllm bench critique"):
            assert result["first_aspect_s"] > 0 and result["full_critique_s"] > 0 and result["peak_rss_mb"] > 0
            assert result["batch"] == 8 and result["batch_s_per_photo"] > 0 and "prefill_s" in result
            # the batch is compared with the same 8 photos one at a time, each timed
            by_photo = result["full_critique_s_by_photo"]
            assert list(by_photo) == result["photos"] and min(by_photo.values()) > 0 and result["batch_speedup"] > 0
            assert result["full_critique_s_slowest"] == max(by_photo.values())
        elif command.startswith("asemllm bench"):
            assert result["ratio"] > 0 and result["threads"] >= 1 and result["torch"]
        if command.startswith("asemllm critic eval") and "teacher" in command:  # the rules agree with themselves
            assert result["claim_agreement"]["agree"] == 1.0
            assert result["controlled_edits"]["reported"] == result["controlled_edits"]["shown"] > 0
        if command.startswith("asemllm saliency eval"):  # the README's goals, re-measured
            nus = result["nus_val"]
            assert nus["models"]["iasm"]["cc"]["mean"] >= 0.6
            assert min(nus["gap_closed"].values()) >= 0.5
        if command.startswith("asemllm data check"):
            assert result["splits"]["validation"]["records"] == 423
    if "saliency predict" in command:
        assert (REPO / "runs" / "saliency" / "LadyBird_overlay.jpg").is_file()


def test_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # it writes runs/tiny
    (code,) = _blocks("python")
    exec(compile(code, str(README), "exec"), {})
    assert (tmp_path / "runs" / "tiny" / "config.json").is_file()
