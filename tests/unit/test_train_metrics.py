"""Each metric against a hand computation; split-level metrics give the same result however the
split is chunked into updates (they are exact over the split, not averages of batches)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import r2_score, roc_auc_score

from layerloom.graph.layers.core import Metric as MetricName
from layerloom.train.metrics import METRIC_NAMES, make_metric, metric_problem, roc_auc

rng = np.random.default_rng(1)


def run(metric, pred, target, chunks=1):
    m = metric()
    for p, t in zip(np.array_split(pred, chunks), np.array_split(target, chunks)):
        m.update(torch.as_tensor(p), torch.as_tensor(t))
    return m.result().item()


def factory(name, loss="mse", form="dense", top_k=5, from_logits=False, activation=None):
    return make_metric(name, loss, form, top_k, from_logits, activation)


def test_metric_names_match_the_output_layer_catalog():
    assert set(METRIC_NAMES) == set(MetricName.__args__)


@pytest.mark.parametrize("loss", ["sparse_categorical_crossentropy", "categorical_crossentropy"])
def test_accuracy_with_labels_compares_argmax_to_label(loss):
    pred = np.array([[0.1, 0.9], [0.8, 0.2], [0.3, 0.7], [0.6, 0.4]], dtype=np.float32)
    labels = np.array([1, 1, 1, 0])
    assert run(factory("accuracy", loss, "labels"), pred, labels) == 0.75


def test_accuracy_with_one_hot_targets_compares_argmaxes():
    pred = rng.normal(size=(50, 5)).astype(np.float32)
    target = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 50)]
    expected = np.mean(pred.argmax(1) == target.argmax(1))
    assert run(factory("accuracy", "categorical_crossentropy"), pred, target, chunks=7) == pytest.approx(expected)


@pytest.mark.parametrize("from_logits, threshold", [(False, 0.5), (True, 0.0)])
def test_binary_accuracy_thresholds_probabilities_or_logits(from_logits, threshold):
    pred = np.array([[0.2], [0.6], [-0.3], [0.55]], dtype=np.float32)
    target = np.array([[0.0], [1.0], [0.0], [0.0]], dtype=np.float32)
    expected = np.mean((pred > threshold).astype(np.float32) == target)
    metric = factory("accuracy", "binary_crossentropy", from_logits=from_logits, activation="sigmoid")
    assert run(metric, pred, target) == pytest.approx(expected)


def test_top_k_accuracy():
    pred = np.array([[0.5, 0.3, 0.2], [0.1, 0.2, 0.7], [0.6, 0.3, 0.1]], dtype=np.float32)
    labels = np.array([1, 0, 2])
    def top_k(k):
        return run(factory("top_k_accuracy", "sparse_categorical_crossentropy", "labels", top_k=k), pred, labels)

    assert top_k(2) == pytest.approx(1 / 3)
    assert top_k(5) == 1.0  # k larger than the number of classes counts every prediction as a hit


@pytest.mark.parametrize("name, expected", [
    ("mae", lambda p, t: np.mean(np.abs(p - t))),
    ("mse", lambda p, t: np.mean((p - t) ** 2)),
    ("rmse", lambda p, t: math.sqrt(np.mean((p - t) ** 2))),
])
def test_value_errors_over_the_whole_split(name, expected):
    pred = rng.normal(size=(101, 2)).astype(np.float32)
    target = rng.normal(size=(101, 2)).astype(np.float32)
    assert run(factory(name), pred, target, chunks=9) == pytest.approx(expected(pred, target), rel=1e-6)


def test_rmse_is_the_root_of_the_split_mse_not_a_mean_of_batch_roots():
    pred = np.array([[0.0], [0.0], [0.0], [0.0]], dtype=np.float32)
    target = np.array([[1.0], [1.0], [3.0], [3.0]], dtype=np.float32)
    assert run(factory("rmse"), pred, target, chunks=2) == pytest.approx(math.sqrt(5.0))  # batch roots would give 2


def test_r2_matches_scikit_learn_over_a_chunked_split():
    target = rng.normal(size=(200, 3)).astype(np.float32) * [1, 10, 0.1]
    pred = (target + rng.normal(size=(200, 3)) * 0.5).astype(np.float32)
    expected = r2_score(target, pred)  # uniform average over columns
    assert run(factory("r2"), pred, target, chunks=13) == pytest.approx(expected, rel=1e-6)


def test_r2_of_a_constant_column_follows_scikit_learn():
    target = np.array([[1.0, 2.0], [1.0, 4.0], [1.0, 6.0]], dtype=np.float32)
    exact = np.array([[1.0, 2.5], [1.0, 3.5], [1.0, 6.0]], dtype=np.float32)
    assert run(factory("r2"), exact, target) == pytest.approx(r2_score(target, exact))
    off = exact + [[0.5, 0.0]] * 3
    assert run(factory("r2"), off.astype(np.float32), target) == pytest.approx(r2_score(target, off))


def test_value_metrics_of_a_logits_head_see_probabilities():
    logits = rng.normal(size=(20, 4)).astype(np.float32)
    target = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 20)]
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    metric = factory("mse", "categorical_crossentropy", from_logits=True, activation="softmax")
    assert run(metric, logits, target) == pytest.approx(np.mean((probs - target) ** 2), rel=1e-5)


def test_auc_matches_scikit_learn_with_ties_and_chunks():
    scores = rng.integers(0, 8, size=(300, 1)).astype(np.float32)  # many ties
    target = (rng.random((300, 1)) < 0.3 + scores / 20).astype(np.float32)
    metric = factory("auc", "binary_crossentropy", from_logits=True, activation="sigmoid")
    assert run(metric, scores, target, chunks=11) == pytest.approx(roc_auc_score(target.ravel(), scores.ravel()), rel=1e-9)


def test_auc_of_perfect_and_reversed_scores():
    scores = torch.tensor([0.1, 0.2, 0.8, 0.9])
    labels = torch.tensor([0.0, 0.0, 1.0, 1.0])
    assert roc_auc(scores, labels).item() == 1.0
    assert roc_auc(-scores, labels).item() == 0.0


def test_auc_with_one_class_is_nan():
    assert math.isnan(roc_auc(torch.tensor([0.1, 0.7]), torch.tensor([1.0, 1.0])).item())


def test_a_metric_with_no_samples_is_nan():
    assert math.isnan(factory("mae")().result().item())


@pytest.mark.parametrize("metric, loss, form, fits", [
    ("accuracy", "sparse_categorical_crossentropy", "labels", True),
    ("accuracy", "binary_crossentropy", "dense", True),
    ("accuracy", "kl_divergence", "dense", True),
    ("accuracy", "mse", "dense", False),
    ("top_k_accuracy", "categorical_crossentropy", "dense", True),
    ("top_k_accuracy", "binary_crossentropy", "dense", False),
    ("r2", "mse", "dense", True),
    ("mae", "sparse_categorical_crossentropy", "labels", False),
    ("auc", "binary_crossentropy", "dense", True),
    ("auc", "categorical_crossentropy", "dense", False),
])
def test_which_metric_fits_which_head(metric, loss, form, fits):
    assert (metric_problem(metric, loss, form) is None) == fits
