"""The loss functions a head may use, with Keras semantics.

Every loss returns the mean over the batch of the per-sample loss (Keras's "sum over batch size"
reduction), so ``batch_loss * batch_size`` summed over a split and divided by its size is the exact
mean over that split. A loss sees either logits (the head's ``from_logits``: the graph's final
softmax / sigmoid was left out of ``forward_train``) or probabilities, which are clipped to
[EPSILON, 1 - EPSILON] as Keras does. Targets come in one of two forms:

- ``"labels"``: int64 class indices, one per sample (sparse or categorical cross-entropy; for
  categorical cross-entropy this is the one-hot target without building the one-hot tensor);
- ``"dense"``: float tensors shaped like the prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F

EPSILON = 1e-7  # keras.backend.epsilon()
HUBER_DELTA = 1.0  # Keras's default delta

TargetForm = Literal["labels", "dense"]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

LOSS_NAMES = (
    "mse", "mae", "huber", "binary_crossentropy", "categorical_crossentropy",
    "sparse_categorical_crossentropy", "kl_divergence", "cosine_similarity",
)
CLASSIFICATION_LOSSES = frozenset({"binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy"})


def mean_squared_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(pred, target)


def mean_absolute_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(pred, target)


def huber(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # PyTorch's formula is Keras's: 0.5 x² inside |x| <= delta, delta (|x| - delta / 2) outside.
    return F.huber_loss(pred, target, delta=HUBER_DELTA)


def binary_crossentropy_from_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, target)


def binary_crossentropy(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # Not F.binary_cross_entropy: it clamps the log at -100 where Keras clips the probability.
    p = probs.clamp(EPSILON, 1.0 - EPSILON)
    return -(target * torch.log(p) + (1.0 - target) * torch.log1p(-p)).mean()


def categorical_crossentropy_from_logits(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def categorical_crossentropy(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    return -(target * _clipped_log_probs(probs)).sum(dim=-1).mean()


def sparse_crossentropy_from_logits(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.cross_entropy(*_classes_last(logits, labels))


def sparse_crossentropy(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.nll_loss(*_classes_last(_clipped_log_probs(probs), labels))


def _classes_last(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """PyTorch wants classes on axis 1, Keras has them last: flatten any axes in between."""
    if scores.dim() == 2:  # the common case; reshaping would add two nodes to every backward
        return scores, labels
    return scores.reshape(-1, scores.shape[-1]), labels.reshape(-1)


def kl_divergence(probs: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    t = target.clamp(EPSILON, 1.0)
    p = probs.clamp(EPSILON, 1.0)
    return (t * torch.log(t / p)).sum(dim=-1).mean()


def cosine_similarity(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    # Keras's l2_normalize divides by sqrt(max(sum x², 1e-12)), i.e. by max(norm, 1e-6).
    return -(F.normalize(pred, dim=-1, eps=1e-6) * F.normalize(target, dim=-1, eps=1e-6)).sum(dim=-1).mean()


def _clipped_log_probs(probs: torch.Tensor) -> torch.Tensor:
    """Keras's cross-entropy on probabilities: renormalise, clip, then take the log."""
    probs = probs / probs.sum(dim=-1, keepdim=True)
    return torch.log(probs.clamp(EPSILON, 1.0 - EPSILON))


_LOSSES: dict[tuple[str, bool, TargetForm], LossFn] = {
    ("mse", False, "dense"): mean_squared_error,
    ("mae", False, "dense"): mean_absolute_error,
    ("huber", False, "dense"): huber,
    ("binary_crossentropy", True, "dense"): binary_crossentropy_from_logits,
    ("binary_crossentropy", False, "dense"): binary_crossentropy,
    ("categorical_crossentropy", True, "dense"): categorical_crossentropy_from_logits,
    ("categorical_crossentropy", False, "dense"): categorical_crossentropy,
    # Integer labels for categorical cross-entropy: -Σ onehot·log p is -log p[label].
    ("categorical_crossentropy", True, "labels"): sparse_crossentropy_from_logits,
    ("categorical_crossentropy", False, "labels"): sparse_crossentropy,
    ("sparse_categorical_crossentropy", True, "labels"): sparse_crossentropy_from_logits,
    ("sparse_categorical_crossentropy", False, "labels"): sparse_crossentropy,
    ("kl_divergence", False, "dense"): kl_divergence,
    ("cosine_similarity", False, "dense"): cosine_similarity,
}


def make_loss(name: str, from_logits: bool, target_form: TargetForm) -> LossFn:
    """The loss for a head; the data mapping has already refused combinations that have none."""
    try:
        return _LOSSES[(name, from_logits, target_form)]
    except KeyError:
        raise ValueError(
            f"No loss {name!r} for {'logits' if from_logits else 'probabilities'} with {target_form} targets"
        ) from None
