"""The results report: confusion matrices, predicted-vs-true pairs, sample views."""

from __future__ import annotations

import numpy as np

from layerloom.train.results import _classification, _regression, sample_view


def test_confusion_matrix_counts_true_rows_against_predicted_columns():
    probs = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]])
    report = _classification(probs, np.array([0, 1, 2, 2]), ["a", "b", "c"])
    assert report["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [1, 0, 1]]
    assert report["accuracy"] == 0.75 and report["classes"] == ["a", "b", "c"]


def test_one_sigmoid_unit_and_one_hot_labels():
    report = _classification(np.array([[0.2], [0.8], [0.6]]), np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]]), None)
    assert report["confusion_matrix"] == [[1, 1], [0, 1]] and report["classes"] == ["0", "1"]


def test_regression_pairs_are_true_then_predicted_and_capped():
    report = _regression(np.arange(5, dtype=np.float32).reshape(5, 1) * 2, np.arange(5, dtype=np.float32).reshape(5, 1))
    assert report["pairs"][1] == [1.0, 2.0] and len(report["pairs"]) == 5
    big = _regression(np.zeros((5000, 1)), np.zeros((5000, 1)))
    assert len(big["pairs"]) == 1000


def test_sample_views():
    image = sample_view(np.random.rand(1, 8, 8).astype(np.float32))
    assert image["kind"] == "image" and image["png"].startswith("data:image/png;base64,")
    rgb = sample_view(np.random.rand(3, 4, 5).astype(np.float32))
    assert rgb["kind"] == "image" and rgb["shape"] == [3, 4, 5]
    values = sample_view(np.arange(40, dtype=np.float32))
    assert values["kind"] == "values" and len(values["values"]) == 32 and values["truncated"]
