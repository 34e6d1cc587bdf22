"""Evaluate a model on a dataset split with the trainer's own code (same batches, same sums), so
a saved model reproduces the test metrics recorded at the end of its training run."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import torch

from ..data import Dataset
from ..graph import CompileError, analyze
from .artifacts import load_trained, read_manifest
from .batching import load_split
from .streaming import default_workers, should_stream, stream_split
from .config import ScheduleConfig, TrainConfig
from .engine import Engine
from .events import json_safe
from .mapping import check_compatibility


def evaluate(model: torch.nn.Module, graph: Mapping[str, Any], dataset: Dataset, split: str = "test",
             config: TrainConfig | Mapping[str, Any] | None = None) -> dict[str, float | None]:
    """Loss and metrics of ``model`` (built from ``graph``) on one split; ``config`` supplies the
    mapping, loss weights and eval batch size (its training options are ignored)."""
    config = config if isinstance(config, TrainConfig) else TrainConfig.model_validate(config or {})
    config = config.model_copy(update={"early_stopping": None, "schedule": ScheduleConfig()})
    analysis = analyze(dict(graph))
    if not analysis.ok:
        raise CompileError(analysis.errors)
    plan = check_compatibility(analysis, dataset, config)
    device = next(model.parameters(), torch.empty(0)).device
    engine = Engine(model, plan)
    streamed, _ = should_stream(config.data_loading, dataset, [split], plan)
    workers = default_workers() if config.data_workers is None else config.data_workers
    data = stream_split(dataset, split, plan, device, workers) if streamed else load_split(dataset, split, plan, device)
    values = engine.evaluate(data, config.effective_eval_batch_size)
    return json_safe(values)


def evaluate_run(run_dir: str | os.PathLike[str], dataset: Dataset, split: str = "test",
                 device: str | torch.device = "cpu") -> dict[str, float | None]:
    """Load a finished run's weights and evaluate them with the run's own config."""
    manifest = read_manifest(run_dir)
    model = load_trained(run_dir, device)
    return evaluate(model, manifest["graph"], dataset, split, manifest["config"])
