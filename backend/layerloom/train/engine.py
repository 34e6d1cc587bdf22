"""The model run over in-memory batches: losses per head, the weighted total, evaluation passes.

Shared by the trainer and by ``evaluate``, so recorded test metrics and a later evaluation of the
saved weights run exactly the same code.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from ..graph import GraphModel
from .accumulate import CompiledHead, PassAccumulator
from .batching import DeviceSplit, epoch_batches
from .losses import make_loss
from .mapping import DataPlan
from .metrics import make_metric

StepResult = tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor], list[torch.Tensor]]


class Engine:
    """A model with its compiled heads; ``amp_dtype`` turns on autocast for the forward."""

    def __init__(self, model: GraphModel, plan: DataPlan, amp_dtype: torch.dtype | None = None,
                 device_type: str = "cpu") -> None:
        self.model = model
        self.forward = model.forward_train
        self.heads = compile_heads(model, plan)
        self.amp_dtype = amp_dtype
        self.device_type = device_type

    def batch_losses(self, inputs: dict[str, torch.Tensor], targets: list[torch.Tensor]) -> StepResult:
        """Forward one batch: (total loss, unweighted head losses, head predictions, head targets)."""
        if self.amp_dtype is None:
            out = self.forward(inputs)
        else:
            with torch.autocast(self.device_type, dtype=self.amp_dtype):
                out = self.forward(inputs)
        outputs, masks = out["heads"], out["masks"]
        total = out["penalty"]
        if total is not None and self.amp_dtype is not None:
            total = total.float()
        head_losses, preds, used_targets = [], [], []
        for head, target in zip(self.heads, targets):
            pred = outputs[head.id]
            if self.amp_dtype is not None:
                pred = pred.float()  # losses and metrics in float32 under AMP
            mask = masks.get(head.id)
            if mask is not None:  # a sequence head with padded steps: they count for neither loss nor metrics
                pred, target = masked_steps(pred, target, mask)
            loss = head.loss_fn(pred, target)
            term = loss if head.weight == 1.0 else loss * head.weight
            total = term if total is None else total + term
            head_losses.append(loss)
            preds.append(pred)
            used_targets.append(target)
        return total, head_losses, preds, used_targets

    def evaluate(self, split: DeviceSplit, batch_size: int,
                 check_cancelled: Callable[[], None] = lambda: None) -> dict[str, float]:
        """Loss and every metric over a whole split, in eval mode."""
        self.model.eval()
        accumulator = PassAccumulator(self.heads)
        with torch.no_grad():
            for size, inputs, targets in epoch_batches(split, batch_size):
                check_cancelled()
                accumulator.record(size, *self.batch_losses(inputs, targets))
        return accumulator.summary(running_only=False)


def masked_steps(pred: torch.Tensor, target: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The valid steps of a masked sequence head, flattened to (valid steps, ...). A loss's mean over
    them is Keras's masked loss (padded steps weigh 0, the mean is over the valid ones)."""
    return pred[mask], target[mask]


def compile_heads(model: GraphModel, plan: DataPlan) -> list[CompiledHead]:
    by_id = {head.id: head for head in model.heads}
    compiled = []
    for target in plan.heads:
        head = by_id[target.node]
        metrics = tuple(
            (f"{head.id}/{name}", make_metric(name, head.loss, target.form, head.top_k, head.from_logits, head.activation))
            for name in dict.fromkeys(head.metrics)
        )
        loss_fn = make_loss(head.loss, head.from_logits, target.form)
        compiled.append(CompiledHead(head.id, loss_fn, target.loss_weight, metrics, math.prod(head.shape)))
    return compiled
