"""Loss and metric bookkeeping for one pass over a split, without synchronising with the device.

A training step only appends detached tensors to lists: its losses, and the predictions and
targets of heads that have metrics. Pending predictions are folded into the metric accumulators in
one vectorised update per window (when a summary is asked for, or when they would hold more than
``PENDING_ELEMENT_LIMIT`` elements), instead of a handful of small kernels every step. A summary
is the one point that waits for the device: all values come back in a single transfer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .losses import LossFn
from .metrics import Metric

PENDING_ELEMENT_LIMIT = 1 << 22  # predictions kept before folding: 16 MiB of float32


@dataclass(frozen=True)
class CompiledHead:
    """Everything the step loop needs about one head, resolved before the first batch."""

    id: str
    loss_fn: LossFn
    weight: float
    metrics: tuple[tuple[str, Callable[[], Metric]], ...]  # ("<head>/<metric>", factory)
    sample_elements: int  # elements of one sample's prediction


class PassAccumulator:
    """Losses and metrics of one pass (a training epoch, or an evaluation of a split)."""

    def __init__(self, heads: list[CompiledHead]) -> None:
        self.heads = heads
        self.sizes: list[int] = []
        self.total_losses: list[torch.Tensor] = []
        self.head_losses: list[list[torch.Tensor]] = [[] for _ in heads]
        self.metrics = [(i, [(name, factory()) for name, factory in head.metrics])
                        for i, head in enumerate(heads) if head.metrics]
        # (head index, predictions, targets) of the steps not folded into the metrics yet
        self.pending: list[tuple[int, list[torch.Tensor], list[torch.Tensor]]] = [(i, [], []) for i, _ in self.metrics]
        elements_per_sample = sum(heads[i].sample_elements for i, _ in self.metrics)
        self.pending_limit = PENDING_ELEMENT_LIMIT // max(1, elements_per_sample)  # in samples
        self.pending_samples = 0

    def record(self, size: int, total: torch.Tensor, head_losses: list[torch.Tensor],
               preds: list[torch.Tensor], targets: list[torch.Tensor]) -> None:
        self.sizes.append(size)
        self.total_losses.append(total.detach())
        for store, loss in zip(self.head_losses, head_losses):
            store.append(loss.detach())
        if self.pending:
            for i, pending_preds, pending_targets in self.pending:
                pending_preds.append(preds[i].detach())
                pending_targets.append(targets[i])
            self.pending_samples += size
            if self.pending_samples > self.pending_limit:
                self.fold()

    def fold(self) -> None:
        for (_, metrics), (_, pending_preds, pending_targets) in zip(self.metrics, self.pending):
            if not pending_preds:
                continue
            pred, target = torch.cat(pending_preds), torch.cat(pending_targets)
            for _, metric in metrics:
                metric.update(pred, target)
            pending_preds.clear()
            pending_targets.clear()
        self.pending_samples = 0

    def summary(self, running_only: bool) -> dict[str, float]:
        """Means so far (weighted by batch size: exact over the samples seen) and metric results,
        fetched from the device in one transfer. A NaN or infinite loss in any step makes "loss"
        (the mean total, which every head's loss is part of) non-finite."""
        self.fold()
        per_step = self._stacked_losses()
        sizes = torch.tensor(self.sizes, dtype=torch.float64).to(per_step.device)
        sums = torch.mv(per_step.double(), sizes)  # Σ batch loss × batch size, per row
        results = [(name, metric.result()) for _, metrics in self.metrics for name, metric in metrics
                   if metric.running or not running_only]
        values = torch.cat([sums, torch.stack([r.to(sums.device) for _, r in results])]) if results else sums
        numbers = values.tolist()
        samples = sum(self.sizes)
        summary = {"loss": numbers[0] / samples}
        summary.update({f"{head.id}/loss": total / samples for head, total in zip(self.heads, numbers[1:])})
        summary.update({name: value for (name, _), value in zip(results, numbers[len(self.heads) + 1:])})
        return summary

    def first_nonfinite(self) -> tuple[int, list[str]]:
        """Index of the first step whose total loss was not finite, and the heads whose loss was not
        (an empty list means the activity-regularization penalty). Synchronises; for errors only."""
        finite = torch.isfinite(self._stacked_losses()).cpu()
        step = int((~finite[0]).nonzero()[0, 0])
        return step, [head.id for j, head in enumerate(self.heads) if not finite[j + 1, step]]

    def _stacked_losses(self) -> torch.Tensor:
        """(1 + heads, steps): the total loss, then each head's unweighted loss, per step."""
        rows = [self.total_losses, *self.head_losses]
        return torch.stack([loss for row in rows for loss in row]).view(len(rows), -1)
