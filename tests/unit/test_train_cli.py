"""``layerloom train`` and ``layerloom datasets``: output, run directories, and one-line errors
with exit code 2 for bad input (never a traceback)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris

from layerloom.cli_train import add_train_commands

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
IRIS = str(EXAMPLES / "iris_mlp.json")


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="layerloom")
    add_train_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return args.func(args)


def errors(capsys) -> list[str]:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err.strip().splitlines()


def test_datasets_lists_the_builtins(capsys):
    assert cli("datasets") == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["name", "task", "description"]
    assert "digits" in out and "regression" in out
    assert cli("datasets", "--json") == 0
    assert {"name": "iris", "task": "classification"}.items() <= json.loads(capsys.readouterr().out)[1].items()


def test_train_prints_progress_and_a_table_and_saves_the_run(tmp_path, capsys):
    out_dir = tmp_path / "run"
    assert cli("train", IRIS, "--data", "iris", "--epochs", "2", "--lr", "0.01", "--out", str(out_dir)) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(" - ")[0] for line in lines if line.startswith("Epoch")] == ["Epoch 1/2", "Epoch 2/2"]
    assert any(line.split() == ["metric", "train", "valid", "test"] for line in lines)
    assert lines[-1] == f"Saved weights, history and manifest to {out_dir}/"
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert manifest["config"]["optimizer"]["lr"] == 0.01 and manifest["epochs_completed"] == 2


def test_an_existing_run_needs_resume_and_resume_continues_it(tmp_path, capsys):
    out_dir = str(tmp_path / "run")
    assert cli("train", IRIS, "--data", "iris", "--epochs", "1", "--out", out_dir) == 0
    capsys.readouterr()
    assert cli("train", IRIS, "--data", "iris", "--epochs", "1", "--out", out_dir) == 2
    assert errors(capsys) == [
        f"error: {out_dir} already holds a run; pass --resume to continue it, or choose another --out."]
    assert cli("train", IRIS, "--data", "iris", "--epochs", "3", "--out", out_dir, "--resume") == 0
    out = capsys.readouterr().out
    assert "Resumed from the checkpoint of epoch 1" in out and "Epoch 1/3" not in out and "Epoch 3/3" in out
    assert len(json.loads((Path(out_dir) / "history.json").read_text())) == 3


def test_csv_and_npz_files_are_routed_to_their_loaders(tmp_path, capsys):
    iris = load_iris()
    rows = ["a,b,c,d,species"] + [",".join(map(str, x)) + "," + iris.target_names[t]
                                  for x, t in zip(iris.data, iris.target)]
    (tmp_path / "iris.csv").write_text("\n".join(rows) + "\n")
    assert cli("train", IRIS, "--data", str(tmp_path / "iris.csv"), "--epochs", "1", "--out", str(tmp_path / "a")) == 0
    np.savez(tmp_path / "iris.npz", x_train=iris.data.astype(np.float32), y_train=iris.target)
    assert cli("train", IRIS, "--data", str(tmp_path / "iris.npz"), "--epochs", "1", "--out", str(tmp_path / "b")) == 0
    assert "Saved weights" in capsys.readouterr().out


def test_standardize_flag_records_the_training_split_statistics(tmp_path, capsys):
    iris = load_iris()
    rows = ["a,b,c,d,label"] + [",".join(map(str, x)) + f",{t}" for x, t in zip(iris.data, iris.target)]
    (tmp_path / "iris.csv").write_text("\n".join(rows) + "\n")  # label 0/1/2: three classes
    out = tmp_path / "run"
    assert cli("train", IRIS, "--data", str(tmp_path / "iris.csv"), "--epochs", "1", "--standardize",
               "--valid-split", "0.2", "--out", str(out)) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["config"]["standardize"] is True
    assert manifest["standardization"]["x"]["samples"] == 120 and len(manifest["standardization"]["x"]["mean"]) == 4


@pytest.mark.parametrize("argv, message", [
    (["missing.json", "--data", "iris"], "error: missing.json: no such graph file."),
    ([IRIS, "--data", "mnist"], "error: --data 'mnist' is neither a built-in dataset"),
    ([IRIS, "--data", "nowhere.csv"], "error: --data nowhere.csv: Cannot read the CSV file"),
    ([IRIS, "--data", "iris", "--epochs", "0"], "error: option epochs: Input should be greater than or equal to 1"),
    ([IRIS, "--data", "iris", "--map", "x"], "error: --map 'x' must look like NODE=ARRAY"),
    ([IRIS, "--data", "iris", "--device", "tpu"], "error: option device: String should match pattern"),
    ([IRIS, "--data", "iris", "--early-stopping", "2", "--monitor", "val_y/auc"],
     "error: early_stopping.monitor is 'val_y/auc'"),
])
def test_bad_input_is_one_line_and_exit_code_2(tmp_path, capsys, argv, message):
    assert cli("train", *argv, "--out", str(tmp_path / "run")) == 2
    (line,) = errors(capsys)
    assert line.startswith(message)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_machine_without_it(tmp_path, capsys):
    assert cli("train", IRIS, "--data", "iris", "--device", "cuda", "--out", str(tmp_path / "run")) == 2
    assert errors(capsys) == [
        "error: device 'cuda' was asked for but CUDA is not available here; use device 'auto' or 'cpu'."]


def test_a_graph_that_does_not_fit_the_data_lists_every_problem(tmp_path, capsys):
    assert cli("train", IRIS, "--data", "digits", "--out", str(tmp_path / "run")) == 2
    lines = errors(capsys)
    assert len(lines) == 2 and all(line.startswith("error: ") for line in lines)
    assert "shape (4,)" in lines[0] and "10 classes" in lines[1]


def test_invalid_graph_json_and_graph_errors(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{nope")
    assert cli("train", str(tmp_path / "bad.json"), "--data", "iris") == 2
    assert errors(capsys)[0].startswith(f"error: {tmp_path / 'bad.json'} is not a readable JSON graph file")
    graph = json.loads(Path(IRIS).read_text())
    graph["nodes"][1]["params"]["units"] = -1
    (tmp_path / "broken.json").write_text(json.dumps(graph))
    assert cli("train", str(tmp_path / "broken.json"), "--data", "iris") == 2
    assert "d1" in errors(capsys)[0]


def test_a_diverging_run_fails_with_exit_code_1(tmp_path, capsys):
    code = cli("train", IRIS, "--data", "iris", "--optimizer", "sgd", "--lr", "1e30", "--out", str(tmp_path / "run"))
    assert code == 1
    (line,) = errors(capsys)
    assert line.startswith("error: Training failed: the loss became NaN or infinite at epoch 1")
