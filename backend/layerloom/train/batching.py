"""In-memory data on the training device, batched by slicing: no DataLoader, no per-sample collation.

Each split's arrays are converted once (with the conversions the data plan asks for) and moved to
the device once. A batch is a contiguous slice (a view) of every array. With shuffling, each epoch
gathers the arrays in the order of one permutation, a window of many batches at a time, and slices
that: one gather per window instead of one per step. The permutation comes from a private
generator seeded by (seed, epoch), so a resumed run replays exactly the order an uninterrupted run
would have used.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from ..data import Dataset
from .mapping import DataPlan

# Bytes of one shuffled window: the memory a shuffled epoch needs on top of the split itself.
GATHER_WINDOW_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class DeviceSplit:
    name: str
    inputs: list[tuple[str, torch.Tensor]]  # (Input node id, all samples), in the plan's order
    targets: list[torch.Tensor]  # one per head, in the plan's order
    size: int


def load_split(dataset: Dataset, split: str, plan: DataPlan, device: torch.device) -> DeviceSplit:
    arrays = dataset.splits[split]
    inputs = []
    for feed in plan.inputs:
        values = np.asarray(arrays[feed.array])  # a lazily decoded image array is decoded here
        inputs.append((feed.node, _to_device(values.astype(np.int64) if feed.ids_from_floats else values, device)))
    targets = []
    for head in plan.heads:
        values = arrays[head.array]
        if head.labels_to_binary:
            values = values.astype(np.float32).reshape(-1, 1)
        targets.append(_to_device(values, device))
    return DeviceSplit(split, inputs, targets, dataset.num_samples(split))


def _to_device(values: np.ndarray, device: torch.device) -> torch.Tensor:
    if not values.flags.writeable or not values.flags.c_contiguous:
        values = np.array(values, order="C")  # torch.from_numpy needs a writable, contiguous array
    return torch.from_numpy(values).to(device)


def batch_bounds(size: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, stop) of every batch; the last one may be smaller."""
    return [(start, min(start + batch_size, size)) for start in range(0, size, batch_size)]


def epoch_permutation(seed: int, epoch: int, size: int, device: torch.device) -> torch.Tensor:
    """The sample order of one epoch: a function of (seed, epoch) only."""
    words = np.random.SeedSequence([seed, epoch]).generate_state(2)
    generator = torch.Generator().manual_seed((int(words[0]) << 31) ^ int(words[1]))
    return torch.randperm(size, generator=generator).to(device)


def epoch_batches(split: DeviceSplit, batch_size: int, order: torch.Tensor | None = None,
                  window_bytes: int = GATHER_WINDOW_BYTES) -> Iterator[tuple[int, dict[str, torch.Tensor], list[torch.Tensor]]]:
    """Every batch of one pass as (size, inputs by node, targets by head), in ``order`` when given.

    The batches are those of ``batch_bounds``: windows hold a whole number of batches, so the
    samples of each batch, and their order, do not depend on the window size. A streamed split
    (train/streaming.py) yields the same batches from its DataLoader."""
    stream = getattr(split, "batches", None)
    if stream is not None:
        yield from stream(batch_size, order)
        return
    names = [node for node, _ in split.inputs]
    arrays = [values for _, values in split.inputs] + split.targets
    n_inputs = len(names)
    sample_bytes = max(1, sum(a[:1].numel() * a.element_size() for a in arrays))
    window = max(1, window_bytes // (sample_bytes * batch_size)) * batch_size
    for window_start in range(0, split.size, window):
        window_stop = min(window_start + window, split.size)
        if order is None:
            parts = [a[window_start:window_stop] for a in arrays]
        else:
            index = order[window_start:window_stop]
            parts = [a.index_select(0, index) for a in arrays]
        length = window_stop - window_start
        for start in range(0, length, batch_size):
            stop = min(start + batch_size, length)
            batch = [a[start:stop] for a in parts]
            yield stop - start, dict(zip(names, batch[:n_inputs])), batch[n_inputs:]
