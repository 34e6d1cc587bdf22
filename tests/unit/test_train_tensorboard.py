"""TensorBoard interop (issue 14 §7): a run with --tensorboard writes event files that TensorBoard's
own reader reads back with the same per-epoch scalars as the run's history, also across a resume."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from layerloom.cli_train import add_train_commands
from layerloom.train.tensorboard import TENSORBOARD_DIR

IRIS = str(Path(__file__).resolve().parents[2] / "examples" / "iris_mlp.json")


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="layerloom")
    add_train_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def scalars(log_dir: Path) -> dict[str, dict[int, float]]:
    acc = EventAccumulator(str(log_dir), size_guidance={"scalars": 0})
    acc.Reload()
    return {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}


def test_event_files_hold_the_same_scalars_as_the_history(tmp_path, capsys):
    out = tmp_path / "run"
    args = ("train", IRIS, "--data", "iris", "--lr", "0.01", "--out", str(out), "--tensorboard")
    assert cli(*args, "--epochs", "2") == 0
    assert cli(*args, "--epochs", "3", "--resume") == 0  # the resumed run continues the same curves
    capsys.readouterr()
    history = json.loads((out / "history.json").read_text())
    assert [row["epoch"] for row in history] == [1, 2, 3]
    written = scalars(out / TENSORBOARD_DIR)
    expected_tags = {k for row in history for k, v in row.items() if k != "epoch" and v is not None}
    assert expected_tags and set(written) == expected_tags
    for row in history:
        for tag in expected_tags:
            assert written[tag][row["epoch"]] == pytest.approx(row[tag], rel=1e-6)


def test_no_event_files_unless_asked(tmp_path, capsys):
    out = tmp_path / "run"
    assert cli("train", IRIS, "--data", "iris", "--epochs", "1", "--out", str(out)) == 0
    capsys.readouterr()
    assert not (out / TENSORBOARD_DIR).exists()
