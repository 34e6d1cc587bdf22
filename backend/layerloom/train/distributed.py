"""One job on several processes: DistributedDataParallel under torchrun.

The runner re-executes itself under ``torch.distributed.run`` when ``config.distributed`` asks for
more than one process (``launch_command``); torchrun sets RANK, WORLD_SIZE and LOCAL_RANK, and
``Distributed.from_env`` reads them in each worker. Every rank holds the whole (in-memory) data,
draws the same epoch permutation and takes its contiguous share of every global batch of
``batch_size`` samples, so the global batch and the sample order are those of one process. The
loss a rank backpropagates is scaled by its share of the batch (``local · world / global``):
DDP's gradient mean is then exactly the gradient of the global batch's mean loss, even when a
batch does not split evenly.

Metrics are reduced across ranks before every summary: the per-step loss sums and sample counts,
and the totals and counts of counting metrics (accuracy, top-k, mae, mse, rmse), so they are those
of the whole batch; r2 merges every rank's target mean and variance (Chan's formula), and auc ranks
the scores of every rank together, so both are those of one process over the same samples.
Validation and test run on every rank over the whole split (identical weights, identical
values). Only rank 0 emits events and writes checkpoints and artifacts; every rank resumes from
the same checkpoint. Gloo on the CPU, NCCL on CUDA (rank r uses cuda:LOCAL_RANK).
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from .accumulate import PassAccumulator
from .metrics import ROCAUC, OnProbabilities, R2Score, _CountingMetric


@dataclass
class Distributed:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    scale: float = 1.0  # the current batch's loss scale (set by shard)

    @classmethod
    def from_env(cls) -> "Distributed":
        world = int(os.environ.get("WORLD_SIZE", "1"))
        if world <= 1:
            return cls()
        return cls(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))

    @property
    def active(self) -> bool:
        return self.world > 1

    @property
    def writes(self) -> bool:
        """Rank 0 (or a single process) emits events and writes files."""
        return self.rank == 0

    def device(self, device: torch.device) -> torch.device:
        return torch.device("cuda", self.local_rank) if self.active and device.type == "cuda" else device

    def init(self, device: torch.device) -> None:
        import torch.distributed as dist

        if self.active and not dist.is_initialized():
            if device.type == "cuda":
                torch.cuda.set_device(device)
            dist.init_process_group("nccl" if device.type == "cuda" else "gloo")

    def wrap(self, model: Any, device: torch.device) -> Any:
        """The model's training forward under DistributedDataParallel (gradients all-reduced in backward)."""
        from torch.nn.parallel import DistributedDataParallel

        train_module = model._train_module  # the fx module of forward_train: it holds the model's layers
        ids = [device.index] if device.type == "cuda" else None
        return DistributedDataParallel(train_module, device_ids=ids)

    def shard(self, batches: Iterator[tuple[int, dict[str, torch.Tensor], list[torch.Tensor]]]
              ) -> Iterator[tuple[int, dict[str, torch.Tensor], list[torch.Tensor]]]:
        """This rank's contiguous share of every global batch; sets ``scale`` for its loss."""
        for size, inputs, targets in batches:
            lo, hi = size * self.rank // self.world, size * (self.rank + 1) // self.world
            self.scale = (hi - lo) * self.world / size
            if hi == lo:
                # A last batch smaller than the world: this rank still runs a step (DDP's all-reduce
                # needs every rank) on one sample whose loss weighs 0 and whose count is 0. Only its
                # metrics (accuracy etc.) count that sample once more.
                lo, hi = size - 1, size
            yield hi - lo if self.scale else 0, {k: v[lo:hi] for k, v in inputs.items()}, [t[lo:hi] for t in targets]

    def summary(self, accumulator: PassAccumulator, running_only: bool) -> dict[str, float]:
        """``accumulator.summary`` over the samples of every rank (a collective: all ranks call it)."""
        import torch.distributed as dist

        accumulator.fold()
        per_step = accumulator._stacked_losses()
        sizes = torch.tensor(accumulator.sizes, dtype=torch.float64, device=per_step.device)
        sums = torch.mv(per_step.double(), sizes)
        metrics = [(name, metric) for _, group in accumulator.metrics for name, metric in group
                   if metric.running or not running_only]
        counting = [(name, _counting(metric)) for name, metric in metrics]
        parts = [sums, sizes.sum().view(1)]
        for _, found in counting:
            if found is not None:
                inner, _ = found
                parts.append(torch.as_tensor(inner.total, dtype=torch.float64, device=sums.device).view(1))
                parts.append(torch.tensor([float(inner.count)], dtype=torch.float64, device=sums.device))
        packed = torch.cat(parts)
        dist.all_reduce(packed)
        values = packed.tolist()
        heads = len(accumulator.heads)
        samples = values[heads + 1]
        summary = {"loss": values[0] / samples}
        summary.update({f"{head.id}/loss": total / samples for head, total in zip(accumulator.heads, values[1:])})
        at = heads + 2
        for (name, metric), (_, found) in zip(metrics, counting):
            if found is None:
                summary[name] = float(across_ranks(metric, sums.device).result())  # r2, auc
                continue
            inner, outer = found
            reduced = copy.copy(inner)
            reduced.total, reduced.count = torch.tensor(values[at], dtype=torch.float64), int(values[at + 1])
            at += 2
            summary[name] = float(reduced.result())
        return summary

    def close(self) -> None:
        import torch.distributed as dist

        if self.active and dist.is_initialized():
            dist.destroy_process_group()


def across_ranks(metric: Any, device: torch.device) -> Any:
    """A metric that is not a sum (r2, auc), over the samples of every rank (a collective)."""
    inner = _unwrapped(metric)
    if isinstance(inner, R2Score):
        merged = R2Score()
        for packed in gather_rows(inner.packed().to(device), device):
            merged.merge_packed(packed.cpu())
        return merged
    if isinstance(inner, ROCAUC):
        merged = ROCAUC()
        for stored in ("scores", "targets"):
            held = getattr(inner, stored)
            mine = torch.cat(held).double() if held else torch.zeros(0, dtype=torch.float64)
            getattr(merged, stored).extend(part.cpu() for part in gather_rows(mine.to(device), device))
        return merged
    return metric


def gather_rows(vector: torch.Tensor, device: torch.device) -> list[torch.Tensor]:
    """Every rank's 1-D ``vector`` (lengths may differ), in rank order."""
    import torch.distributed as dist

    world = dist.get_world_size()
    length = torch.tensor([vector.numel()], dtype=torch.int64, device=device)
    lengths = [torch.zeros_like(length) for _ in range(world)]
    dist.all_gather(lengths, length)
    longest = max(int(n.item()) for n in lengths)
    padded = torch.zeros(longest, dtype=vector.dtype, device=device)
    padded[:vector.numel()] = vector
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded)
    return [part[:int(n.item())] for part, n in zip(parts, lengths)]


def _unwrapped(metric: Any) -> Any:
    """The metric itself, under the probabilities wrapper a logits head puts around it."""
    return metric.inner if isinstance(metric, OnProbabilities) else metric


def _counting(metric: Any) -> tuple[_CountingMetric, Any] | None:
    inner = _unwrapped(metric)
    return (inner, metric) if isinstance(inner, _CountingMetric) else None


def launch_command(nproc_per_node: int, nnodes: int, argv: list[str]) -> list[str]:
    """torchrun re-running this runner. One node: a local rendezvous on a free port. Several: the
    operator's rendezvous endpoint (LAYERLOOM_RDZV_ENDPOINT, host:port) and this node's rank among
    them (LAYERLOOM_NODE_RANK); see docs/deploy.md."""
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={nproc_per_node}", f"--nnodes={nnodes}"]
    if nnodes == 1:
        command.append("--standalone")
    else:
        endpoint = os.environ.get("LAYERLOOM_RDZV_ENDPOINT")
        if not endpoint:
            raise ValueError("config.distributed.nnodes > 1 needs the operator's rendezvous address: set "
                             "LAYERLOOM_RDZV_ENDPOINT=host:port on every worker (docs/deploy.md).")
        command += ["--rdzv-backend=c10d", f"--rdzv-endpoint={endpoint}",
                    f"--rdzv-id={os.environ.get('LAYERLOOM_RDZV_ID', 'layerloom')}",
                    f"--node-rank={os.environ.get('LAYERLOOM_NODE_RANK', '0')}"]
    return [*command, "-m", "layerloom.jobs.runner", *argv]
