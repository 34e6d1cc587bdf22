"""Each loss against a hand computation in NumPy, with Keras's formulas and clipping."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from layerloom.graph.layers.core import Loss
from layerloom.train.losses import EPSILON, LOSS_NAMES, make_loss

rng = np.random.default_rng(0)
LOGITS = rng.normal(size=(6, 4)).astype(np.float32)
LABELS = np.array([0, 3, 1, 1, 2, 0])
ONE_HOT = np.eye(4, dtype=np.float32)[LABELS]
PRED = rng.normal(size=(6, 3)).astype(np.float32)
TARGET = rng.normal(size=(6, 3)).astype(np.float32)


def softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def loss(name, from_logits, form, pred, target):
    fn = make_loss(name, from_logits, form)
    return fn(torch.as_tensor(pred), torch.as_tensor(target)).item()


def test_loss_names_match_the_output_layer_catalog():
    assert set(LOSS_NAMES) == set(Loss.__args__)


def test_mse():
    assert loss("mse", False, "dense", PRED, TARGET) == pytest.approx(np.mean((PRED - TARGET) ** 2), rel=1e-6)


def test_mae():
    assert loss("mae", False, "dense", PRED, TARGET) == pytest.approx(np.mean(np.abs(PRED - TARGET)), rel=1e-6)


def test_huber_has_keras_delta_one():
    err = np.abs(PRED - TARGET)
    expected = np.where(err <= 1.0, 0.5 * err**2, err - 0.5).mean()
    assert (err > 1).any() and (err <= 1).any()
    assert loss("huber", False, "dense", PRED, TARGET) == pytest.approx(expected, rel=1e-6)


def test_binary_crossentropy_from_logits():
    z, t = PRED, (TARGET > 0).astype(np.float32)
    p = sigmoid(z)
    expected = -(t * np.log(p) + (1 - t) * np.log(1 - p)).mean()
    assert loss("binary_crossentropy", True, "dense", z, t) == pytest.approx(expected, rel=1e-5)


def test_binary_crossentropy_on_probabilities_clips_like_keras():
    p = np.array([[0.0], [1.0], [0.3], [0.9]], dtype=np.float32)
    t = np.array([[1.0], [0.0], [1.0], [0.0]], dtype=np.float32)
    # Clipping happens in float32, as in Keras: 1 - 1e-7 rounds to the float32 below 1.
    clipped = np.clip(p, np.float32(EPSILON), np.float32(1 - EPSILON)).astype(np.float64)
    expected = -(t * np.log(clipped) + (1 - t) * np.log(1 - clipped)).mean()
    assert loss("binary_crossentropy", False, "dense", p, t) == pytest.approx(expected, rel=1e-5)


def test_categorical_crossentropy_from_logits_with_one_hot_targets():
    expected = -(ONE_HOT * np.log(softmax(LOGITS))).sum(axis=-1).mean()
    assert loss("categorical_crossentropy", True, "dense", LOGITS, ONE_HOT) == pytest.approx(expected, rel=1e-5)


def test_categorical_crossentropy_on_probabilities_renormalises_and_clips():
    probs = softmax(LOGITS) * 2.0  # not normalised: Keras divides by the sum first
    probs[0, LABELS[0]] = 0.0  # a zero probability for the true class is clipped to epsilon
    normalised = probs / probs.sum(axis=-1, keepdims=True)
    expected = -(ONE_HOT * np.log(np.clip(normalised, EPSILON, 1 - EPSILON))).sum(axis=-1).mean()
    assert loss("categorical_crossentropy", False, "dense", probs, ONE_HOT) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("from_logits", [True, False])
def test_categorical_crossentropy_with_integer_labels_equals_one_hot(from_logits):
    pred = LOGITS if from_logits else softmax(LOGITS)
    with_labels = loss("categorical_crossentropy", from_logits, "labels", pred, LABELS)
    with_one_hot = loss("categorical_crossentropy", from_logits, "dense", pred, ONE_HOT)
    assert with_labels == pytest.approx(with_one_hot, rel=1e-6)


@pytest.mark.parametrize("from_logits", [True, False])
def test_sparse_categorical_crossentropy(from_logits):
    pred = LOGITS if from_logits else softmax(LOGITS)
    expected = -np.log(softmax(LOGITS)[np.arange(6), LABELS]).mean()
    assert loss("sparse_categorical_crossentropy", from_logits, "labels", pred, LABELS) == pytest.approx(expected, rel=1e-5)


def test_sparse_categorical_crossentropy_over_a_sequence_keeps_classes_last():
    logits = rng.normal(size=(2, 5, 4)).astype(np.float32)  # (batch, time, classes), as Keras lays it out
    labels = rng.integers(0, 4, size=(2, 5))
    expected = -np.log(np.take_along_axis(softmax(logits), labels[..., None], axis=-1)).mean()
    assert loss("sparse_categorical_crossentropy", True, "labels", logits, labels) == pytest.approx(expected, rel=1e-5)


def test_kl_divergence_clips_both_sides():
    t = softmax(TARGET)
    t[0] = [1.0, 0.0, 0.0]  # zeros are clipped to epsilon, as Keras does
    p = softmax(PRED)
    tc, pc = np.clip(t, EPSILON, 1), np.clip(p, EPSILON, 1)
    expected = (tc * np.log(tc / pc)).sum(axis=-1).mean()
    assert loss("kl_divergence", False, "dense", p, t) == pytest.approx(expected, rel=1e-5)


def test_cosine_similarity_is_negative_mean_cosine():
    cos = (PRED * TARGET).sum(-1) / (np.linalg.norm(PRED, axis=-1) * np.linalg.norm(TARGET, axis=-1))
    assert loss("cosine_similarity", False, "dense", PRED, TARGET) == pytest.approx(-cos.mean(), rel=1e-5)


def test_cosine_similarity_of_a_zero_vector_is_zero():
    zero = np.zeros((1, 3), dtype=np.float32)
    assert loss("cosine_similarity", False, "dense", zero, TARGET[:1]) == 0.0


def test_a_combination_without_a_loss_is_refused():
    with pytest.raises(ValueError, match="mse"):
        make_loss("mse", False, "labels")
