"""The `asemllm` command line: one subcommand per action, each taking only its own flags, with the
old spellings kept one release as hidden aliases that warn. Parser only: nothing here loads a model."""

import argparse
import re

import pytest

import asemllm
from asemllm.cli import main, parser

COMMANDS = [
    [], ["critique"], ["serve"], ["train"], ["eval"], ["baseline"], ["reproduce"], ["info"],
    ["data"], ["data", "convert"], ["data", "check"],
    ["saliency"], ["saliency", "train"], ["saliency", "eval"], ["saliency", "predict"],
    ["critic"], ["critic", "data"], ["critic", "head"], ["critic", "finish"], ["critic", "eval"],
    ["critic", "compact"], ["critic", "bundle"], ["critic", "coverage"],
    ["bench"], ["bench", "vision"], ["bench", "generate"], ["bench", "critique"], ["bench", "serve"],
    ["bench", "train"],
]


def _tree(p: argparse.ArgumentParser, path=()):
    """Every (sub)command path of the parser, the top level included."""
    yield list(path)
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _tree(sub, (*path, name))


def _parse(argv):
    args = vars(parser().parse_args(argv))
    args.pop("func")
    return args


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"asemllm {asemllm.__version__}\n"


def test_the_tested_commands_are_all_of_them():
    assert sorted(_tree(parser())) == sorted(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "asemllm")
def test_every_help_ends_with_an_example(command, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert "Example" in text
    examples = text[text.rindex("Example"):].splitlines()[1:]
    assert examples and all(line.strip().startswith(" ".join(["asemllm", *command])) for line in examples if line)


@pytest.mark.parametrize("argv", [
    ["critic", "bundle", "--model", "x", "--epochs", "5"],
    ["data", "check", "--format", "pccd", "--root", "r", "--out", "x"],
    ["critique", "photo.jpg", "--epochs", "5"],
    ["bench", "serve", "--batch-size", "4"],
    ["bench", "vision", "--steps", "2"],
    ["saliency", "predict", "photo.jpg", "--out", "o", "--epochs", "3"],
    ["info", "--json"],
], ids=lambda a: " ".join(a))
def test_a_flag_of_another_action_is_a_usage_error(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "unrecognized arguments" in err and f"asemllm {argv[0]}" in err  # the subcommand's own usage


@pytest.mark.parametrize("argv, missing", [
    (["critic", "bundle"], "--model"), (["critic", "head"], "--model"), (["critic", "finish"], "--model"),
    (["critic", "compact", "--model", "m"], "--out"), (["eval", "--data", "d", "--out", "o"], "--model"),
    (["data", "convert", "--format", "csv", "--root", "r"], "--out"), (["saliency", "predict", "p.jpg"], "--out"),
    (["critique"], "PHOTOS"), (["train"], "--config"), (["baseline", "--data", "d", "--out", "o"], "--model"),
    (["reproduce", "--format", "csv", "--root", "r", "--out", "o"], "--config"),
], ids=lambda a: " ".join(a) if isinstance(a, list) else a)
def test_required_flags(argv, missing, capsys):
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(argv)
    assert exit_.value.code == 2 and missing in capsys.readouterr().err


def test_critic_head_takes_one_new_branch_at_a_time(capsys):
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["critic", "head", "--model", "m", "--stats", "--native"])
    assert exit_.value.code == 2 and "not allowed with" in capsys.readouterr().err
    assert _parse(["critic", "head", "--model", "m", "--geometry"])["geometry"]


@pytest.mark.parametrize("argv, old, new, dest, value", [
    (["eval", "--checkpoint", "m", "--data", "d", "--out", "o"], "--checkpoint", "--model", "model", "m"),
    (["saliency", "eval", "--weights", "w.safetensors"], "--weights", "--model", "model", "w.safetensors"),
    (["saliency", "predict", "p.jpg", "--out", "o", "--weights", "w"], "--weights", "--model", "model", "w"),
    (["data", "convert", "--format", "csv", "--root", "r", "--out", "o", "--photos", "p"],
     "--photos", "--image-root", "image_root", "p"),
    (["data", "check", "--format", "csv", "--root", "r", "--photos", "p"],
     "--photos", "--image-root", "image_root", "p"),
    (["bench", "vision", "--batch", "3"], "--batch", "--batch-size", "batch_size", 3),
    (["bench", "generate", "--batch", "3"], "--batch", "--batch-size", "batch_size", 3),
    (["bench", "critique", "--batch=3"], "--batch", "--batch-size", "batch_size", 3),
    (["bench", "train", "--batch", "3"], "--batch", "--batch-size", "batch_size", 3),
    (["bench", "generate", "--new-tokens", "5"], "--new-tokens", "--max-new-tokens", "max_new_tokens", 5),
], ids=lambda a: " ".join(map(str, a)) if isinstance(a, list) else None)
def test_old_spellings_warn_and_land_in_the_new_flag(argv, old, new, dest, value, capsys):
    args = _parse(argv)
    assert args[dest] == value
    assert capsys.readouterr().err == f"asemllm: warning: {old} is deprecated, use {new}\n"


@pytest.mark.parametrize("command, old", [
    (["eval"], "--checkpoint"), (["saliency", "eval"], "--weights"), (["saliency", "predict"], "--weights"),
    (["data", "convert"], "--photos"), (["data", "check"], "--photos"), (["bench", "vision"], "--batch"),
    (["bench", "generate"], "--new-tokens"),
])
def test_old_spellings_are_hidden_from_help(command, old, capsys):
    with pytest.raises(SystemExit):
        main([*command, "--help"])
    assert not re.search(rf"(?<![\w-]){old}(?![\w-])", capsys.readouterr().out)


def test_old_and_new_spelling_together_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_:
        parser().parse_args(["bench", "vision", "--batch-size", "2", "--batch", "3"])
    assert exit_.value.code == 2 and "not allowed with" in capsys.readouterr().err


def test_new_spellings_do_not_warn(capsys):
    args = _parse(["eval", "--model", "m", "--data", "d", "--out", "o"])
    assert args["model"] == "m" and capsys.readouterr().err == ""


def test_defaults():
    assert _parse(["bench", "vision"])["batch_size"] == 8 and _parse(["bench", "vision"])["repeats"] == 10
    assert _parse(["bench", "critique"])["batch_size"] == 8 and _parse(["bench", "critique"])["repeats"] == 3
    generate = _parse(["bench", "generate"])
    assert (generate["batch_size"], generate["repeats"], generate["max_new_tokens"]) == (1, 3, 64)
    train = _parse(["bench", "train"])
    assert (train["batch_size"], train["steps"], train["device"], train["backbones"]) == (8, 10, "cpu", "real")
    assert _parse(["critic", "eval"])["model"] == "teacher"
    assert _parse(["critic", "data"])["out"] == "runs/critic-data"
    assert _parse(["critic", "head", "--model", "m"])["data"] == "runs/critic-data/train.jsonl"
    assert _parse(["saliency", "eval"])["model"] == "bundled"
    assert _parse(["saliency", "train"])["out"] == "runs/iasm"
    critique = _parse(["critique", "a.jpg", "b"])
    assert critique["targets"] == ["a.jpg", "b"] and critique["batch_size"] == 8 and critique["precision"] == "fp32"


def test_value_errors_are_one_line_and_exit_2(tmp_path, capsys):
    assert main(["data", "check", "--format", "pccd", "--root", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("asemllm: error: ") and err.count("\n") == 1 and "nowhere" in err
