"""Statistics that layers learn from the data before training, as Keras's ``layer.adapt(data)``.

A built module that can adapt has an ``adapt(batches)`` method and an ``adapted`` flag (today:
``Normalization`` with ``adapt: true``). Before the first step the trainer gives each such module
that is not adapted yet the values that reach it when the training split flows through the model,
batch by batch. Modules adapt in the model's order, so one that follows another sees the first
one's adapted output. Saved weights and checkpoints hold the statistics, so a resumed run or a
loaded model does not recompute them.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch import nn

from .batching import DeviceSplit, batch_bounds


class _Reached(Exception):
    """Stops the forward pass once the adapting module's input is known: the rest is not needed."""


def adapt_layers(model: nn.Module, split: DeviceSplit, batch_size: int) -> list[str]:
    """Adapt every module that needs it; returns their names (node ids)."""
    names = []
    for name, module in model.named_children():
        if callable(getattr(module, "adapt", None)) and not module.adapted:
            module.adapt(_inputs_reaching(model, module, split, batch_size))
            names.append(name)
    return names


def _inputs_reaching(model: nn.Module, module: nn.Module, split: DeviceSplit, batch_size: int) -> Iterator[torch.Tensor]:
    captured: list[torch.Tensor] = []

    def capture(_module: nn.Module, args: tuple) -> None:
        captured.append(args[0])
        raise _Reached

    handle = module.register_forward_pre_hook(capture)
    was_training = model.training
    model.eval()  # no dropout or noise in the statistics
    try:
        with torch.no_grad():
            for start, stop in batch_bounds(split.size, batch_size):
                try:
                    model({node: values[start:stop] for node, values in split.inputs})
                except _Reached:
                    pass
                if not captured:
                    raise RuntimeError("the module to adapt was not called by the model's forward")
                yield captured.pop()
    finally:
        handle.remove()
        model.train(was_training)
