"""Head metrics, computed exactly over a whole split.

A metric accumulates sufficient statistics as device tensors (``update`` never synchronises with
the device) and turns them into one 0-d tensor on ``result``. So an epoch's accuracy is correct
predictions over all samples, R² uses the split's own target variance, and AUC ranks every score of
the split: none of them is an average of per-batch values.

Which variant a name means depends on the head's loss and target form, as in Keras: ``accuracy``
compares the arg-max with the label (or the one-hot target's arg-max) for categorical heads and
thresholds the score for binary cross-entropy heads. Predictions arrive as ``forward_train`` gives
them, i.e. logits for a ``from_logits`` head; metrics that compare values apply the head's
activation first, the others are unaffected by it (arg-max, ranks) or move their threshold.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .losses import TargetForm

METRIC_NAMES = ("accuracy", "top_k_accuracy", "mae", "mse", "rmse", "r2", "auc")
# Metrics that improve upwards (early stopping's mode "auto" maximises them).
HIGHER_IS_BETTER = frozenset({"accuracy", "top_k_accuracy", "r2", "auc"})
_ARGMAX_LOSSES = frozenset({"categorical_crossentropy", "kl_divergence"})
_VALUE_METRICS = frozenset({"mae", "mse", "rmse", "r2"})


class Metric:
    """One metric over one split. ``running`` metrics are cheap enough to report in step events."""

    running = True

    def update(self, pred: torch.Tensor, target: torch.Tensor) -> None:
        raise NotImplementedError

    def result(self) -> torch.Tensor:
        raise NotImplementedError


class _CountingMetric(Metric):
    """A metric that is a sum over elements divided by their number."""

    def __init__(self) -> None:
        self.total: torch.Tensor | float = 0.0
        self.count = 0  # a Python int: the number of elements is known without asking the device

    def result(self) -> torch.Tensor:
        if not self.count:
            return torch.tensor(float("nan"), dtype=torch.float64)
        return torch.as_tensor(self.total).double() / self.count


class LabelAccuracy(_CountingMetric):
    """Arg-max of the prediction equals the class label."""

    def update(self, pred, target):
        self.total = self.total + (pred.argmax(dim=-1) == target).sum()
        self.count += target.numel()


class ArgmaxAccuracy(_CountingMetric):
    """Arg-max of the prediction equals the arg-max of a one-hot (or probability) target."""

    def update(self, pred, target):
        self.total = self.total + (pred.argmax(dim=-1) == target.argmax(dim=-1)).sum()
        self.count += target.numel() // target.shape[-1]


class BinaryAccuracy(_CountingMetric):
    """Keras's binary_accuracy: the thresholded score equals the target, element by element."""

    def __init__(self, threshold: float) -> None:
        super().__init__()
        self.threshold = threshold

    def update(self, pred, target):
        self.total = self.total + ((pred > self.threshold).to(target.dtype) == target).sum()
        self.count += target.numel()


class TopKAccuracy(_CountingMetric):
    """The label (or the one-hot target's arg-max) is among the k highest predictions."""

    def __init__(self, k: int, labels: bool) -> None:
        super().__init__()
        self.k, self.labels = k, labels

    def update(self, pred, target):
        labels = target if self.labels else target.argmax(dim=-1)
        top = pred.topk(min(self.k, pred.shape[-1]), dim=-1).indices
        self.total = self.total + (top == labels.unsqueeze(-1)).any(dim=-1).sum()
        self.count += labels.numel()


class MeanError(_CountingMetric):
    """Mean absolute or squared error over every element; rmse is the root of the split's mse."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind = kind

    def update(self, pred, target):
        diff = pred.float() - target
        errors = diff.abs() if self.kind == "mae" else diff.square()
        self.total = self.total + errors.sum(dtype=torch.float64)
        self.count += target.numel()

    def result(self):
        value = super().result()
        return value.sqrt() if self.kind == "rmse" else value


class R2Score(Metric):
    """Coefficient of determination per output column, averaged uniformly (Keras's R2Score and
    scikit-learn's default). Target mean and variance are merged across updates with Chan's
    formula in float64, so the result equals a single pass over the whole split."""

    def __init__(self) -> None:
        self.count = 0
        self.mean: torch.Tensor | None = None
        self.sum_sq_dev: torch.Tensor | None = None  # Σ (y - mean)² per column
        self.sum_sq_res: torch.Tensor | None = None  # Σ (y - prediction)² per column

    def update(self, pred, target):
        n = target.shape[0]
        y = target.reshape(n, -1).double()
        residual_sq = (y - pred.reshape(n, -1).double()).square().sum(dim=0)
        batch_mean = y.mean(dim=0)
        self.merge(n, batch_mean, (y - batch_mean).square().sum(dim=0), residual_sq)

    def merge(self, n: int, mean: torch.Tensor, sum_sq_dev: torch.Tensor, sum_sq_res: torch.Tensor) -> None:
        """Fold in the statistics of ``n`` more samples (a batch, or another rank's whole share)."""
        if n == 0:
            return
        if self.mean is None:
            self.mean, self.sum_sq_dev, self.sum_sq_res, self.count = mean, sum_sq_dev, sum_sq_res, n
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean = self.mean + delta * (n / total)
        self.sum_sq_dev = self.sum_sq_dev + sum_sq_dev + delta.square() * (self.count * n / total)
        self.sum_sq_res = self.sum_sq_res + sum_sq_res
        self.count = total

    def packed(self) -> torch.Tensor:
        """The state as one float64 vector (empty before any update), to send to other ranks."""
        if self.mean is None:
            return torch.zeros(0, dtype=torch.float64)
        return torch.cat([torch.tensor([float(self.count)], dtype=torch.float64, device=self.mean.device),
                          self.mean, self.sum_sq_dev, self.sum_sq_res])

    def merge_packed(self, packed: torch.Tensor) -> None:
        if packed.numel():
            mean, sum_sq_dev, sum_sq_res = packed[1:].reshape(3, -1)
            self.merge(int(packed[0].item()), mean, sum_sq_dev, sum_sq_res)

    def result(self):
        if self.mean is None:
            return torch.tensor(float("nan"), dtype=torch.float64)
        per_column = 1.0 - self.sum_sq_res / self.sum_sq_dev
        # A constant target column scores 1 when predicted exactly, else 0 (scikit-learn's force_finite).
        constant = self.sum_sq_dev == 0
        per_column = torch.where(constant, (self.sum_sq_res == 0).double(), per_column)
        return per_column.mean()


class ROCAUC(Metric):
    """Exact area under the ROC curve of a binary head, over every score of the split (the
    Mann-Whitney statistic with tied scores sharing their average rank). Multi-output heads are
    flattened, like Keras's AUC with multi_label=False. NaN when a split holds a single class."""

    running = False  # sorts the whole split: reported per epoch only

    def __init__(self) -> None:
        self.scores: list[torch.Tensor] = []
        self.targets: list[torch.Tensor] = []

    def update(self, pred, target):
        self.scores.append(pred.detach().reshape(-1).float())
        self.targets.append(target.reshape(-1))

    def result(self):
        if not self.scores:
            return torch.tensor(float("nan"), dtype=torch.float64)
        return roc_auc(torch.cat(self.scores), torch.cat(self.targets))


def roc_auc(scores: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    positive = (targets > 0.5).double()
    n_pos = positive.sum()
    n_neg = positive.numel() - n_pos
    sorted_scores, order = torch.sort(scores)
    _, group, counts = torch.unique_consecutive(sorted_scores, return_inverse=True, return_counts=True)
    # Ranks are 1-based; a group of tied scores ending at rank e with c members averages e - (c - 1) / 2.
    group_end = counts.cumsum(dim=0).double()
    ranks = (group_end - (counts.double() - 1.0) / 2.0)[group]
    rank_sum = (ranks * positive[order]).sum()
    auc = (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
    return torch.where((n_pos > 0) & (n_neg > 0), auc, torch.full_like(auc, float("nan")))


def metric_problem(metric: str, loss: str, form: TargetForm) -> str | None:
    """Why ``metric`` cannot be computed for a head with this loss and target form, or None."""
    if metric == "accuracy":
        if form == "labels" or loss == "binary_crossentropy" or loss in _ARGMAX_LOSSES:
            return None
        return f"accuracy needs a classification loss, not {loss}; use mae, mse, rmse or r2"
    if metric == "top_k_accuracy":
        if form == "labels" or loss in _ARGMAX_LOSSES:
            return None
        return f"top_k_accuracy needs a categorical head (categorical or sparse_categorical_crossentropy), not {loss}"
    if metric in _VALUE_METRICS:
        if form == "dense":
            return None
        return f"{metric} compares values, but the target holds class labels; use accuracy or top_k_accuracy"
    if metric == "auc":
        if loss == "binary_crossentropy":
            return None
        return f"auc needs a binary head trained with binary_crossentropy, not {loss}"
    return f"unknown metric {metric!r}; use one of {', '.join(METRIC_NAMES)}"


def make_metric(
    metric: str, loss: str, form: TargetForm, top_k: int, from_logits: bool, activation: str | None,
) -> Callable[[], Metric]:
    """A factory of fresh accumulators for one metric of one head (one per split and epoch).

    The data mapping has already refused the combinations ``metric_problem`` rejects."""
    if metric == "accuracy":
        if form == "labels":
            return LabelAccuracy
        if loss == "binary_crossentropy":
            threshold = 0.0 if from_logits else 0.5  # sigmoid(0) = 0.5
            return lambda: BinaryAccuracy(threshold)
        return ArgmaxAccuracy
    if metric == "top_k_accuracy":
        return lambda: TopKAccuracy(top_k, labels=form == "labels")
    if metric == "auc":
        return ROCAUC
    factory: Callable[[], Metric] = R2Score if metric == "r2" else (lambda: MeanError(metric))
    if from_logits:
        return lambda: OnProbabilities(factory(), activation)
    return factory


class OnProbabilities(Metric):
    """Applies the head's final activation to logits before a value metric sees them."""

    def __init__(self, inner: Metric, activation: str | None) -> None:
        self.inner = inner
        self.activate = torch.sigmoid if activation == "sigmoid" else (lambda x: torch.softmax(x, dim=-1))
        self.running = inner.running

    def update(self, pred, target):
        self.inner.update(self.activate(pred.float()), target)

    def result(self):
        return self.inner.result()
