"""In-memory data on the training device, batched by slicing: no DataLoader, no per-sample collation.

Each split's arrays are converted once (with the conversions the data plan asks for) and moved to
the device once. A batch is a slice of every array (``shuffle=False``) or an index into it with a
window of one permutation per epoch. The permutation comes from a private generator seeded by
(seed, epoch), so a resumed run replays exactly the order an uninterrupted run would have used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..data import Dataset
from .mapping import DataPlan


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
        values = arrays[feed.array]
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
