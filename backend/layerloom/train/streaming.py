"""Streamed splits: batches read by DataLoader workers from lazily decoded images or memory-mapped
arrays, for data that does not fit the memory budget (``config.data_loading``).

A streamed epoch has exactly the batches of the in-memory path: the same ``batch_bounds`` over the
same ``epoch_permutation`` (a function of seed and epoch only), so a resumed run replays the order,
and switching between ``memory`` and ``stream`` changes where samples are read, not which. Each
worker reads one whole batch (its images decoded from the zip or folder the worker opened itself,
or rows of a memmap), so memory holds a few batches in flight, whatever the dataset's size.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader
from torch.utils.data import Dataset as TorchDataset

from ..data import Dataset
from ..runner_settings import DATA_MEMORY_BUDGET_ENV, DEFAULT_DATA_MEMORY_BUDGET_MB
from .batching import batch_bounds
from .mapping import DataPlan


def memory_budget_bytes() -> int:
    """The runner's budget for decoded splits held in memory (LAYERLOOM_DATA_MEMORY_BUDGET_MB)."""
    raw = os.environ.get(DATA_MEMORY_BUDGET_ENV, "")
    try:
        megabytes = float(raw) if raw else DEFAULT_DATA_MEMORY_BUDGET_MB
    except ValueError:
        megabytes = DEFAULT_DATA_MEMORY_BUDGET_MB
    return int(megabytes * 1024 * 1024)


def decoded_bytes(dataset: Dataset, splits: list[str], plan: DataPlan) -> int:
    """What the planned arrays of ``splits`` take once decoded into memory."""
    names = [feed.array for feed in plan.inputs] + [head.array for head in plan.heads]
    total = 0
    for split in splits:
        arrays = dataset.splits.get(split) or {}
        for name in dict.fromkeys(names):
            values = arrays[name]
            total += int(np.prod(values.shape)) * np.dtype(values.dtype).itemsize
    return total


def should_stream(mode: str, dataset: Dataset, splits: list[str], plan: DataPlan) -> tuple[bool, str | None]:
    """(stream?, a note saying why, for the run's log)."""
    if mode == "memory":
        return False, None
    if mode == "stream":
        return True, "Streaming the data from storage (data_loading 'stream')."
    needed, budget = decoded_bytes(dataset, splits, plan), memory_budget_bytes()
    if needed <= budget:
        return False, None
    return True, (f"Streaming the data from storage: decoded it would take {needed / 2**20:.0f} MiB, over the "
                  f"runner's memory budget of {budget / 2**20:.0f} MiB ({DATA_MEMORY_BUDGET_ENV}).")


class _BatchReader(TorchDataset):
    """Item = one whole batch: the rows at a list of indices of every planned array."""

    def __init__(self, arrays: list[Any], conversions: list[str | None]) -> None:
        self.arrays = arrays
        self.conversions = conversions

    def __len__(self) -> int:
        return len(self.arrays[0])

    def __getitem__(self, index: np.ndarray) -> list[torch.Tensor]:
        out = []
        for values, conversion in zip(self.arrays, self.conversions):
            part = np.asarray(values[index])  # decodes or reads just these rows
            if conversion == "int64":
                part = part.astype(np.int64)
            elif conversion == "binary":
                part = part.astype(np.float32).reshape(-1, 1)
            out.append(torch.from_numpy(np.ascontiguousarray(part)))
        return out


class _Rows:
    """Slicing gives a device tensor of those rows (what adapt_layers reads from split.inputs)."""

    def __init__(self, reader: _BatchReader, position: int, device: torch.device) -> None:
        self.reader, self.position, self.device = reader, position, device

    def __getitem__(self, rows: slice) -> torch.Tensor:
        index = np.arange(len(self.reader))[rows]
        return self.reader[index][self.position].to(self.device)


@dataclass
class StreamSplit:
    name: str
    size: int
    names: list[str]  # Input node ids, in the plan's order
    reader: _BatchReader
    device: torch.device
    workers: int

    @property
    def inputs(self) -> list[tuple[str, _Rows]]:
        return [(node, _Rows(self.reader, i, self.device)) for i, node in enumerate(self.names)]

    def batches(self, batch_size: int, order: torch.Tensor | None = None
                ) -> Iterator[tuple[int, dict[str, torch.Tensor], list[torch.Tensor]]]:
        """The batches of ``batch_bounds`` in ``order``: (size, inputs by node, targets by head)."""
        positions = np.arange(self.size) if order is None else order.cpu().numpy()
        sampler = [positions[start:stop] for start, stop in batch_bounds(self.size, batch_size)]
        cuda = self.device.type == "cuda"
        loader = DataLoader(self.reader, sampler=sampler, batch_size=None, num_workers=self.workers,
                            pin_memory=cuda, multiprocessing_context=_context() if self.workers else None,
                            prefetch_factor=2 if self.workers else None)
        n_inputs = len(self.names)
        for parts in loader:
            tensors = [p.to(self.device, non_blocking=cuda) for p in parts]
            yield len(tensors[0]), dict(zip(self.names, tensors[:n_inputs])), tensors[n_inputs:]


def _context():
    # fork: workers share the parent's memory maps and lazy arrays without pickling them.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else methods[0])


def default_workers() -> int:
    return max(1, min(4, (os.cpu_count() or 1) - 1))


def stream_split(dataset: Dataset, split: str, plan: DataPlan, device: torch.device, workers: int) -> StreamSplit:
    arrays = dataset.splits[split]
    columns: list[Any] = []
    conversions: list[str | None] = []
    for feed in plan.inputs:
        columns.append(arrays[feed.array])
        conversions.append("int64" if feed.ids_from_floats else None)
    for head in plan.heads:
        columns.append(arrays[head.array])
        conversions.append("binary" if head.labels_to_binary else None)
    reader = _BatchReader(columns, conversions)
    return StreamSplit(split, dataset.num_samples(split), [feed.node for feed in plan.inputs], reader, device, workers)
