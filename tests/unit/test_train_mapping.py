"""Matching graph Inputs and heads to dataset arrays: one test per problem code, the conversions
that are accepted, and every problem reported together in one MappingError."""

from __future__ import annotations

import numpy as np
import pytest

from layerloom.data import Dataset
from layerloom.graph import analyze
from layerloom.train import MappingError, TrainConfig, check_compatibility

rng = np.random.default_rng(0)
N = 30


def graph(*, input_shape=(4,), input_dtype="float32", units=3, activation="softmax",
          loss="sparse_categorical_crossentropy", metrics=(), input_id="x", output_id="y"):
    nodes = [{"id": input_id, "type": "Input", "params": {"shape": list(input_shape), "dtype": input_dtype}}]
    edges = []
    last = input_id
    if input_dtype != "float32":
        nodes += [{"id": "emb", "type": "Embedding", "params": {"input_dim": 10, "output_dim": 2}},
                  {"id": "flat", "type": "Flatten"}]
        edges += [{"source": input_id, "target": "emb"}, {"source": "emb", "target": "flat"}]
        last = "flat"
    nodes += [{"id": "dense", "type": "Dense", "params": {"units": units, "activation": activation}},
              {"id": output_id, "type": "Output", "params": {"loss": loss, "metrics": list(metrics)}}]
    edges += [{"source": last, "target": "dense"}, {"source": "dense", "target": output_id}]
    analysis = analyze({"format": "layerloom.graph", "version": 1, "name": "t", "nodes": nodes, "edges": edges})
    assert analysis.ok, analysis.errors
    return analysis


def dataset(y, x=None, kinds=None, valid=False):
    x = rng.normal(size=(N, 4)).astype(np.float32) if x is None else x
    splits = {"train": {"x": x, "y": y}}
    if valid:
        splits["valid"] = {"x": x[:5], "y": y[:5]}
    return Dataset.from_arrays("toy", splits, kinds=kinds)


LABELS3 = np.arange(N) % 3
LABELS2 = np.arange(N) % 2
ONE_HOT3 = np.eye(3, dtype=np.float32)[LABELS3]
VALUES2 = rng.normal(size=(N, 2)).astype(np.float32)


def problems(analysis, data, **config):
    with pytest.raises(MappingError) as info:
        check_compatibility(analysis, data, TrainConfig(**config))
    for problem in info.value.problems:
        assert set(problem) == {"node", "field", "code", "message"}
    return info.value.problems


def codes(analysis, data, **config):
    return [p["code"] for p in problems(analysis, data, **config)]


# ---- accepted -----------------------------------------------------------------------------


def test_matching_names_give_a_plan():
    plan = check_compatibility(graph(metrics=["accuracy"]), dataset(LABELS3), TrainConfig())
    assert [(f.node, f.array) for f in plan.inputs] == [("x", "x")]
    assert [(h.node, h.array, h.form) for h in plan.heads] == [("y", "y", "labels")]
    assert plan.metric_names == ["loss", "y/loss", "y/accuracy"]


def test_explicit_mapping_feeds_differently_named_nodes():
    analysis = graph(input_id="pixels", output_id="digit")
    plan = check_compatibility(analysis, dataset(LABELS3), TrainConfig(mapping={"pixels": "x", "digit": "y"}))
    assert [(f.node, f.array) for f in plan.inputs] == [("pixels", "x")]
    assert [(h.node, h.array) for h in plan.heads] == [("digit", "y")]


def test_categorical_crossentropy_accepts_integer_labels():
    plan = check_compatibility(graph(loss="categorical_crossentropy", metrics=["accuracy", "top_k_accuracy"]),
                               dataset(LABELS3), TrainConfig())
    assert plan.heads[0].form == "labels"


def test_categorical_crossentropy_accepts_one_hot_targets():
    plan = check_compatibility(graph(loss="categorical_crossentropy", metrics=["accuracy"]), dataset(ONE_HOT3),
                               TrainConfig())
    assert plan.heads[0].form == "dense"


def test_binary_crossentropy_accepts_zero_one_labels_as_floats():
    analysis = graph(units=1, activation="sigmoid", loss="binary_crossentropy", metrics=["accuracy", "auc"])
    plan = check_compatibility(analysis, dataset(LABELS2), TrainConfig())
    head = plan.heads[0]
    assert (head.form, head.labels_to_binary) == ("dense", True)


def test_integral_floats_feed_an_integer_input_as_ids():
    ids = rng.integers(0, 10, size=(N, 5)).astype(np.float32)  # loaders store features as float32
    plan = check_compatibility(graph(input_shape=(5,), input_dtype="int64"), dataset(LABELS3, x=ids), TrainConfig())
    assert plan.inputs[0].ids_from_floats


def test_loss_weights_override_the_graph():
    plan = check_compatibility(graph(), dataset(LABELS3), TrainConfig(loss_weights={"y": 0.25}))
    assert plan.heads[0].loss_weight == 0.25


# ---- one test per problem code ------------------------------------------------------------


def two_feature_arrays(y=LABELS3):
    x = rng.normal(size=(N, 4)).astype(np.float32)
    return Dataset.from_arrays("toy", {"train": {"x": x, "x2": x[:, :2].copy(), "y": y}})


def test_missing_array_lists_the_available_ones_and_suggests_the_one_that_fits():
    (problem,) = problems(graph(input_id="features"), two_feature_arrays())
    assert (problem["code"], problem["node"]) == ("missing_array", "features")
    assert "x, x2, y" in problem["message"]
    assert "map it to 'x'" in problem["message"] and "{'features': 'x'}" in problem["message"]  # shape (4,) fits


def test_one_input_and_one_head_map_themselves_like_fit_x_y():
    plan = check_compatibility(graph(input_id="features", output_id="species"), dataset(LABELS3), TrainConfig())
    assert [(f.node, f.array) for f in plan.inputs] == [("features", "x")]
    assert [(h.node, h.array, h.form) for h in plan.heads] == [("species", "y", "labels")]


def test_a_head_is_never_told_to_use_the_features_array():
    x = rng.normal(size=(N, 4)).astype(np.float32)
    data = Dataset.from_arrays("toy", {"train": {"x": x, "y": LABELS3, "z": VALUES2}},
                               kinds={"z": "values"})  # two targets: no fit(x, y)
    (problem,) = problems(graph(output_id="label"), data)
    assert problem["node"] == "label"
    assert "map it to 'y', the dataset's class labels (3 classes)" in problem["message"]
    assert "'x'" not in problem["message"].split(";", 1)[1]
    # A regression head is offered the values array whose shape fits.
    (problem,) = problems(graph(output_id="out", units=2, activation="linear", loss="mse"), data)
    assert "map it to 'z'" in problem["message"]


def test_no_array_of_the_role_says_so():
    x = rng.normal(size=(N, 4)).astype(np.float32)
    data = Dataset.from_arrays("toy", {"train": {"x": x, "x2": x}}, kinds={"x": "features", "x2": "features"})
    messages = [p["message"] for p in problems(graph(output_id="label"), data)]
    assert any("no target array" in m for m in messages), messages


def test_the_fit_x_y_rule_passes_the_cases_the_editor_passes():
    import json
    from pathlib import Path

    from layerloom.train.mapping import fit_xy_mapping

    path = Path(__file__).parents[2] / "frontend" / "src" / "training" / "auto_mapping_cases.json"
    cases = json.loads(path.read_text())["cases"]
    assert len(cases) >= 8
    for case in cases:
        got = fit_xy_mapping(case["inputs"], case["outputs"], case["arrays"], case["mapping"])
        assert got == case["expect"], case["name"]


def test_mapping_to_an_absent_array_is_a_missing_array():
    (problem,) = problems(graph(), dataset(LABELS3), mapping={"y": "labels"})
    assert problem["code"] == "missing_array" and "'labels'" in problem["message"]


def test_mapping_a_node_that_is_not_an_input_or_output():
    assert codes(graph(), dataset(LABELS3), mapping={"dense": "x"}) == ["unknown_mapping_node"]


def test_loss_weight_for_an_unknown_head():
    assert codes(graph(), dataset(LABELS3), loss_weights={"z": 1.0}) == ["unknown_head"]


def test_input_shape_differs_from_the_array_sample_shape():
    (problem,) = problems(graph(input_shape=(5,)), dataset(LABELS3))
    assert problem["code"] == "shape_mismatch" and "[4]" in problem["message"]


def test_integer_array_into_a_float_input():
    assert "dtype_mismatch" in codes(graph(input_shape=(1,)), dataset(LABELS3), mapping={"x": "y", "y": "y"})


def test_non_integer_values_into_an_integer_input():
    x = rng.normal(size=(N, 5)).astype(np.float32)
    (problem,) = problems(graph(input_shape=(5,), input_dtype="int64"), dataset(LABELS3, x=x))
    assert problem["code"] == "dtype_mismatch" and "float32" in problem["message"]


def test_sparse_crossentropy_with_one_hot_targets_suggests_categorical():
    (problem,) = problems(graph(), dataset(ONE_HOT3))
    assert problem["code"] == "sparse_needs_labels" and "categorical_crossentropy" in problem["message"]


def test_binary_crossentropy_with_more_than_two_classes():
    (problem,) = problems(graph(units=1, activation="sigmoid", loss="binary_crossentropy"), dataset(LABELS3))
    assert problem["code"] == "binary_too_many_classes" and "sparse_categorical_crossentropy" in problem["message"]


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_regression_loss_on_class_labels(loss):
    (problem,) = problems(graph(units=1, activation="linear", loss=loss), dataset(LABELS3))
    assert problem["code"] == "regression_on_labels" and loss in problem["message"]


def test_number_of_classes_differs_from_the_head_width():
    (problem,) = problems(graph(units=4), dataset(LABELS3))
    assert problem["code"] == "class_count_mismatch" and "units=3" in problem["message"]


def test_one_hot_width_differs_from_the_head_width():
    assert codes(graph(units=4, loss="categorical_crossentropy"), dataset(ONE_HOT3)) == ["class_count_mismatch"]


def test_binary_labels_need_a_single_unit():
    analysis = graph(units=2, activation="sigmoid", loss="binary_crossentropy")
    assert codes(analysis, dataset(LABELS2)) == ["class_count_mismatch"]


def test_regression_target_width_differs_from_the_head_width():
    (problem,) = problems(graph(units=1, activation="linear", loss="mse"), dataset(VALUES2))
    assert problem["code"] == "target_width_mismatch" and "units=2" in problem["message"]


def test_metric_that_does_not_fit_the_head():
    (problem,) = problems(graph(units=2, activation="linear", loss="mse", metrics=["accuracy"]), dataset(VALUES2))
    assert problem["code"] == "metric_not_applicable" and "accuracy" in problem["message"]


def test_monitoring_validation_metrics_without_validation_data():
    (problem,) = problems(graph(), dataset(LABELS3), early_stopping={"monitor": "val_loss"})
    assert problem["code"] == "unknown_monitor" and "validation_split" in problem["message"]


def test_monitoring_a_metric_that_is_not_reported():
    schedule = {"name": "reduce_on_plateau", "monitor": "val_y/auc"}
    (problem,) = problems(graph(), dataset(LABELS3, valid=True), schedule=schedule)
    assert problem["code"] == "unknown_monitor" and "val_y/loss" in problem["message"]


def test_every_problem_is_reported_in_one_error():
    found = codes(graph(input_shape=(5,), units=4, metrics=["mae"]), dataset(LABELS3),
                  mapping={"nope": "x"}, loss_weights={"z": 2.0}, early_stopping={"monitor": "val_loss"})
    assert sorted(found) == sorted(["unknown_mapping_node", "unknown_head", "shape_mismatch",
                                    "class_count_mismatch", "unknown_monitor"])
