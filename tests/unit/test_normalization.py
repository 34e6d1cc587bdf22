"""Normalization against Keras 3 itself (torch backend, test-only): outputs after adapt on the same
data, outputs with given statistics, parameter counts; and adapt inside a real training run."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "torch")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import safetensors.torch  # noqa: E402
import torch  # noqa: E402

from layerloom.data import Dataset  # noqa: E402
from layerloom.graph import analyze, build_model  # noqa: E402
from layerloom.train import train  # noqa: E402
from layerloom.train.adapt import adapt_layers  # noqa: E402
from layerloom.train.batching import DeviceSplit  # noqa: E402
from layerloom.train.trainer import Trainer  # noqa: E402


def norm_graph(shape, params, before=None):
    nodes = [{"id": "x", "type": "Input", "params": {"shape": list(shape)}}]
    edges = []
    last = "x"
    if before:
        nodes.append({"id": "pre", **before})
        edges.append({"source": "x", "target": "pre"})
        last = "pre"
    nodes += [{"id": "norm", "type": "Normalization", "params": params},
              {"id": "y", "type": "Output", "params": {"loss": "mse"}}]
    edges += [{"source": last, "target": "norm"}, {"source": "norm", "target": "y"}]
    return {"format": "layerloom.graph", "version": 1, "name": "norm", "nodes": nodes, "edges": edges}


def keras_axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def data(shape, n=53, seed=0):
    rng = np.random.default_rng(seed)
    scale = rng.uniform(0.5, 4.0, size=shape).astype(np.float32)
    return (rng.normal(size=(n, *shape)) * scale + 3.0).astype(np.float32)


# (per-sample shape, axis): vectors per feature, sequences, channels-first images per channel, several axes, one statistic
ADAPT_CASES = [((5,), -1), ((6, 4), -1), ((6, 4), 1), ((3, 4, 5), 1), ((3, 4, 5), [1, 3]), ((3, 4, 5), None), ((2, 3, 4), [-1, -2])]


@pytest.mark.parametrize("shape,axis", ADAPT_CASES)
@pytest.mark.parametrize("invert", [False, True])
def test_adapted_normalization_equals_keras_after_adapt_on_the_same_data(shape, axis, invert):
    train_x, test_x = data(shape), data(shape, n=7, seed=1)
    theirs = keras.layers.Normalization(axis=keras_axis(axis), invert=invert)
    theirs.adapt(train_x)
    analysis = analyze(norm_graph(shape, {"axis": axis, "adapt": True, "invert": invert}))
    assert analysis.ok, [i.message for i in analysis.issues]
    model = build_model(analysis, seed=0)
    # Ours adapts batch by batch (10 at a time), as the trainer does; Keras saw the whole array at once.
    assert adapt_layers(model, DeviceSplit("train", [("x", torch.from_numpy(train_x))], [], len(train_x)), 10) == ["norm"]
    np.testing.assert_allclose(model.norm.mean.numpy(), keras.ops.convert_to_numpy(theirs.adapt_mean), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(model.norm.variance.numpy(), keras.ops.convert_to_numpy(theirs.adapt_variance), rtol=1e-5, atol=1e-5)
    with torch.no_grad():
        ours = model({"x": torch.from_numpy(test_x)})["y"].numpy()
    np.testing.assert_allclose(ours, keras.ops.convert_to_numpy(theirs(test_x)), rtol=1e-5, atol=1e-5)
    # Parameter counts are Keras's: mean, variance and count, all non-trainable.
    assert (analysis.trainable_params, analysis.non_trainable_params) == (0, theirs.count_params())
    assert sorted(w.name for w in analysis.nodes["norm"].weights) == ["count", "mean", "variance"]


@pytest.mark.parametrize("shape,params", [
    ((5,), {"mean": 2.0, "variance": 9.0}),
    ((5,), {"mean": [1.0, 2.0, 3.0, 4.0, 5.0], "variance": [1.0, 4.0, 0.0, 2.0, 0.5]}),  # a zero variance: epsilon
    ((3, 4, 5), {"axis": 1, "mean": [0.5, -1.0, 2.0], "variance": [2.0, 3.0, 4.0]}),
    ((3, 4, 5), {"axis": [1, 2], "mean": [1.0, 2.0, 3.0, 4.0], "variance": [1.0, 1.0, 2.0, 2.0]}),  # onto the last kept axis
    ((3, 4), {"axis": None, "mean": 1.5, "variance": 0.25, "invert": True}),
    ((3, 4), {"axis": -1, "mean": [7.0], "variance": [4.0]}),
])
def test_given_statistics_equal_keras_and_are_not_weights(shape, params):
    x = data(shape, n=6)
    kwargs = {k: v for k, v in params.items() if k != "axis"}
    theirs = keras.layers.Normalization(axis=keras_axis(params.get("axis", -1)), **kwargs)
    expected = keras.ops.convert_to_numpy(theirs(x))
    analysis = analyze(norm_graph(shape, params))
    assert analysis.ok, [i.message for i in analysis.issues]
    model = build_model(analysis, seed=0)
    with torch.no_grad():
        ours = model({"x": torch.from_numpy(x)})["y"].numpy()
    np.testing.assert_allclose(ours, expected, rtol=1e-5, atol=1e-5)
    assert analysis.total_params == theirs.count_params() == 0
    assert model.state_dict() == {}  # constants, not saved weights


@pytest.mark.parametrize("params,field,words", [
    ({}, "params", "give mean and variance, or set adapt"),
    ({"mean": 1.0}, "params", "together"),
    ({"mean": 1.0, "variance": 1.0, "adapt": True}, "params", "remove mean and variance"),
    ({"mean": [1.0, 2.0], "variance": [1.0]}, "params", "same shape"),
    ({"mean": 0.0, "variance": -1.0}, "params", "≥ 0"),
    ({"axis": 0, "adapt": True}, "params.axis", "batch axis"),
    ({"axis": 3, "adapt": True}, "params.axis", "out of range"),
    ({"axis": [1, -2], "adapt": True}, "params.axis", "named twice"),
    ({"mean": [1.0, 2.0, 3.0], "variance": [1.0, 1.0, 1.0]}, "params.mean", "has 4"),
    ({"axis": None, "mean": [1.0, 2.0], "variance": [1.0, 1.0]}, "params.mean", "one number"),
])
def test_invalid_normalization_params_are_refused_on_the_field(params, field, words):
    analysis = analyze(norm_graph((3, 4), params))
    [issue] = [i for i in analysis.errors if i.node == "norm"]
    assert issue.field == field and words in issue.message, issue.message


# ---- adapt inside a training run ---------------------------------------------------------------

N_TRAIN = 96


class Recorder:
    def __init__(self) -> None:
        self.events = []

    def on_event(self, event):
        self.events.append(event)

    def logs(self):
        return [e["message"] for e in self.events if e["type"] == "log"]


def classifier(before=None):
    graph = norm_graph((6,), {"adapt": True}, before=before)
    graph["nodes"][-1] = {"id": "out", "type": "Dense", "params": {"units": 3, "activation": "softmax"}}
    graph["nodes"].append({"id": "y", "type": "Output", "params": {"loss": "sparse_categorical_crossentropy"}})
    graph["edges"][-1] = {"source": "norm", "target": "out"}
    graph["edges"].append({"source": "out", "target": "y"})
    return graph


def toy_data(shift=0.0, with_valid=True):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, N_TRAIN + 32)
    x = (rng.normal(size=(len(y), 6)) * [1, 2, 3, 4, 5, 6] + 10 + shift + np.eye(3, 6)[y]).astype(np.float32)
    splits = {"train": {"x": x[:N_TRAIN], "y": y[:N_TRAIN]}}
    if with_valid:
        splits["valid"] = {"x": x[N_TRAIN:], "y": y[N_TRAIN:]}
    return Dataset.from_arrays("toy", splits), x


def test_training_adapts_before_the_first_step_and_saves_the_statistics(tmp_path):
    dataset, x = toy_data()
    recorder = Recorder()
    train(classifier(), dataset, {"epochs": 1, "batch_size": 16}, out_dir=tmp_path, callbacks=[recorder])
    assert any(m.startswith("Adapted norm to the training split (96 samples)") for m in recorder.logs()), recorder.logs()
    # The log comes before the first step's training event.
    kinds = [(e["type"], e.get("message", "")) for e in recorder.events]
    adapted_at = next(i for i, (t, m) in enumerate(kinds) if m.startswith("Adapted"))
    assert adapted_at < next(i for i, (t, _) in enumerate(kinds) if t in ("step", "epoch"))
    saved = safetensors.torch.load_file(tmp_path / "weights.safetensors")
    train_x = x[:N_TRAIN].astype(np.float64)
    np.testing.assert_allclose(saved["norm.mean"].numpy(), train_x.mean(0), rtol=1e-6)
    np.testing.assert_allclose(saved["norm.variance"].numpy(), train_x.var(0), rtol=1e-5)
    assert saved["norm.count"].item() == N_TRAIN


def test_adapt_uses_the_training_part_of_a_validation_split():
    dataset, _ = toy_data(with_valid=False)
    trainer = Trainer(classifier(), dataset, {"epochs": 1, "batch_size": 16, "validation_split": 0.25})
    result = trainer.run()
    train_x = trainer.splits["train"].inputs[0][1].double()
    assert len(train_x) == 72
    torch.testing.assert_close(result.model.norm.mean.double(), train_x.mean(0), rtol=1e-6, atol=1e-6)
    all_x = torch.from_numpy(dataset.splits["train"]["x"]).double()
    assert not torch.allclose(result.model.norm.mean.double(), all_x.mean(0), rtol=1e-6, atol=1e-6)


def test_a_resumed_run_keeps_the_statistics_of_its_checkpoint(tmp_path):
    dataset, _ = toy_data()
    first = train(classifier(), dataset, {"epochs": 1, "batch_size": 16}, out_dir=tmp_path)
    stats = first.model.norm.mean.clone()
    # Resume on shifted data: recomputing would move the mean by 100; the checkpoint's must stay.
    shifted, _ = toy_data(shift=100.0)
    recorder = Recorder()
    resumed = train(classifier(), shifted, {"epochs": 2, "batch_size": 16}, out_dir=tmp_path, resume=True,
                    callbacks=[recorder])
    assert resumed.epochs_completed == 2
    assert not any(m.startswith("Adapted") for m in recorder.logs()), recorder.logs()
    torch.testing.assert_close(resumed.model.norm.mean, stats)
    saved = safetensors.torch.load_file(tmp_path / "weights.safetensors")
    torch.testing.assert_close(saved["norm.mean"], stats)


def test_a_normalization_after_other_layers_adapts_to_what_reaches_it():
    dataset, x = toy_data()
    graph = classifier(before={"type": "Dense", "params": {"units": 6, "activation": "relu"}})
    result = train(graph, dataset, {"epochs": 1, "batch_size": 16, "seed": 3})
    initial = build_model(analyze(graph), seed=3)  # the weights the trainer started from
    with torch.no_grad():
        reached = torch.relu(initial.pre(torch.from_numpy(x[:N_TRAIN]))).double()
    torch.testing.assert_close(result.model.norm.mean.double(), reached.mean(0), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(result.model.norm.variance.double(), reached.var(0, correction=0), rtol=1e-5, atol=1e-5)
