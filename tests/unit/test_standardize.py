"""config.standardize: statistics from the training split only (after validation_split), the same
transform in training, results, predictions from raw values and exports (PyTorch zip and ONNX),
and the notes."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from layerloom.data import Dataset
from layerloom.graph import analyze, build_model
from layerloom.predict import Predictor
from layerloom.train import train
from layerloom.train.artifacts import read_manifest


def mlp(input_id="features", width=3):
    return {"format": "layerloom.graph", "version": 1, "name": "std-mlp",
            "nodes": [{"id": input_id, "type": "Input", "params": {"shape": [width]}},
                      {"id": "d1", "type": "Dense", "params": {"units": 8, "activation": "relu"}},
                      {"id": "d2", "type": "Dense", "params": {"units": 2, "activation": "softmax"}},
                      {"id": "label", "type": "Output", "params": {"loss": "sparse_categorical_crossentropy",
                                                                    "metrics": ["accuracy"]}}],
            "edges": [{"source": input_id, "target": "d1"}, {"source": "d1", "target": "d2"},
                      {"source": "d2", "target": "label"}]}


def wide_dataset(n=200, seed=0):
    rng = np.random.default_rng(seed)
    # Very different scales, and a constant third feature.
    x = np.stack([rng.normal(1000, 300, n), rng.normal(-0.01, 0.002, n), np.full(n, 7.0)], axis=1).astype(np.float32)
    x[: n // 4, 0] += 5000  # the first rows differ from the rest: train-split stats differ from the whole's
    y = (x[:, 0] > 1000).astype(np.int64)
    return Dataset.from_arrays("wide", {"train": {"x": x, "y": y}})


def test_statistics_come_from_the_training_split_and_predict_applies_them(tmp_path):
    data = wide_dataset()
    config = {"epochs": 3, "standardize": True, "validation_split": 0.25, "seed": 3, "batch_size": 16}
    events = []

    class Log:
        def on_event(self, event):
            events.append(event)

    result = train(mlp(), data, config, out_dir=tmp_path, callbacks=[Log()])
    assert result.status == "succeeded"

    # The statistics, recomputed here from the rows the run trained on (the same seeded split).
    train_rows = data.with_split(valid_fraction=0.25, seed=3).splits["train"]["x"].astype(np.float64)
    manifest = read_manifest(tmp_path)
    entry = manifest["standardization"]["features"]
    assert entry["array"] == "x" and entry["samples"] == len(train_rows) == 150
    np.testing.assert_allclose(entry["mean"], train_rows.mean(0), rtol=1e-12)
    np.testing.assert_allclose(entry["std"][:2], train_rows.std(0)[:2], rtol=1e-12)
    assert entry["std"][2] == 1.0 and entry["constant_features"] == 1
    whole = data.splits["train"]["x"].astype(np.float64)
    assert abs(entry["mean"][0] - whole.mean(0)[0]) > 1.0  # not the whole file's statistics

    # The manifest graph carries the transform; the user's graph and the weights' keys do not change.
    norm = [n for n in manifest["graph"]["nodes"] if n["type"] == "Normalization"]
    assert [n["id"] for n in norm] == ["features_standardize"]
    plain = build_model(analyze(mlp()))
    assert set(plain.state_dict()) == set(result.model.state_dict())

    # Predict from raw values == the trained weights applied to (x - mean) / std computed here.
    raw = data.splits["train"]["x"][:10]
    predicted = np.array(Predictor(tmp_path).predict({"features": raw.tolist()})["outputs"]["label"])
    plain.load_state_dict(result.model.state_dict())
    plain.eval()
    by_hand = (raw - np.array(entry["mean"])) / np.array(entry["std"])
    with torch.no_grad():
        expected = plain({"features": torch.tensor(by_hand, dtype=torch.float32)})["label"].numpy()
    np.testing.assert_allclose(predicted, expected, atol=1e-5)

    logs = " ".join(e.get("message", "") for e in events if e["type"] == "log")
    assert "Standardized input 'features' (3 features of 'x') with the mean and std of the 150 training samples" in logs
    assert "1 constant feature(s) only shifted" in logs


def test_without_standardize_nothing_changes(tmp_path):
    result = train(mlp(), wide_dataset(), {"epochs": 1}, out_dir=tmp_path)
    manifest = read_manifest(tmp_path)
    assert manifest["standardization"] == {} and result.status == "succeeded"
    assert not any(n["type"] == "Normalization" for n in manifest["graph"]["nodes"])


def test_images_and_token_ids_are_left_alone_with_a_note(tmp_path):
    graph = {"format": "layerloom.graph", "version": 1, "name": "img",
             "nodes": [{"id": "x", "type": "Input", "params": {"shape": [1, 4, 4]}},
                       {"id": "f", "type": "Flatten"},
                       {"id": "d", "type": "Dense", "params": {"units": 2, "activation": "softmax"}},
                       {"id": "y", "type": "Output", "params": {"loss": "sparse_categorical_crossentropy"}}],
             "edges": [{"source": "x", "target": "f"}, {"source": "f", "target": "d"}, {"source": "d", "target": "y"}]}
    rng = np.random.default_rng(0)
    data = Dataset.from_arrays("img", {"train": {"x": rng.normal(size=(20, 1, 4, 4)).astype(np.float32),
                                                 "y": np.arange(20) % 2}})
    events = []

    class Log:
        def on_event(self, event):
            events.append(event)

    train(graph, data, {"epochs": 1, "standardize": True}, out_dir=tmp_path, callbacks=[Log()])
    assert read_manifest(tmp_path)["standardization"] == {}
    logs = " ".join(e.get("message", "") for e in events if e["type"] == "log")
    assert "not standardized" in logs and "Normalization layer" in logs


def test_the_pytorch_export_carries_the_transform(tmp_path):
    import zipfile

    from layerloom.export import export_run

    train(mlp(), wide_dataset(), {"epochs": 1, "standardize": True}, out_dir=tmp_path)
    with zipfile.ZipFile(export_run(tmp_path, "pytorch")) as archive:
        graph = json.loads(archive.read("graph.json"))
        source = archive.read("model.py").decode()
    assert any(n["type"] == "Normalization" for n in graph["nodes"])
    assert "features_standardize" in source


@pytest.mark.slow
def test_the_onnx_export_takes_raw_values_like_predict(tmp_path):
    import onnxruntime

    from layerloom.export import export_run

    data = wide_dataset()
    train(mlp(), data, {"epochs": 2, "standardize": True}, out_dir=tmp_path)
    session = onnxruntime.InferenceSession(str(export_run(tmp_path, "onnx")), providers=["CPUExecutionProvider"])
    raw = np.ascontiguousarray(data.splits["train"]["x"][:7])
    (onnx_out,) = session.run(None, {"features": raw})
    predicted = np.array(Predictor(tmp_path).predict({"features": raw.tolist()})["outputs"]["label"])
    np.testing.assert_allclose(onnx_out, predicted, atol=1e-5)
