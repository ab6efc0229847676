"""The README's commands and Python example run as written."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README.read_text(), flags=re.S)


def _commands() -> list[str]:
    lines = [line.split("#")[0].strip() for block in _blocks("bash") for line in block.splitlines()]
    return [line for line in lines if line.startswith("asemllm ")]


def test_readme_names_the_two_commands():
    text = README.read_text()
    assert "make test" in text and "make demo" in text
    assert len(_commands()) >= 3


def _run(command: str) -> str:
    exe = Path(sys.executable).parent / "asemllm"
    args = [str(exe), *command.split()[1:]]
    res = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, f"{command}: {res.stderr[-2000:]}"
    return res.stdout


@pytest.mark.slow
@pytest.mark.parametrize("command", _commands())
def test_readme_command_runs(command):
    out = _run(command)
    if "--json" in command:
        result = json.loads(out)
        assert result["ratio"] > 0 and result["threads"] >= 1 and result["torch"]


def test_readme_python_example_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # it writes runs/tiny
    (code,) = _blocks("python")
    exec(compile(code, str(README), "exec"), {})
    assert (tmp_path / "runs" / "tiny" / "config.json").is_file()
