"""Training engine: graph + dataset + config -> trained weights, events, checkpoints, artifacts.

    from layerloom.train import train, ConsoleLogger
    result = train(graph_document, load_builtin("digits"), {"epochs": 10}, out_dir="runs/digits",
                   callbacks=[ConsoleLogger()])
    model = load_trained("runs/digits")

``check_compatibility`` reports every mismatch between a graph and a dataset (at submit time,
before any training); ``evaluate`` / ``evaluate_run`` score a model with the trainer's own code.
"""

from .artifacts import ArtifactError, graph_sha256, load_trained, read_manifest
from .checkpoint import CHECKPOINT_FILE, CheckpointError, load_checkpoint
from .config import ConfigError, EarlyStoppingConfig, OptimizerConfig, ScheduleConfig, TrainConfig
from .evaluation import evaluate, evaluate_run
from .events import Callback, ConsoleLogger, EventEmitter, HistoryRecorder, render_metrics_table
from .losses import LOSS_NAMES
from .mapping import DataPlan, MappingError, check_compatibility
from .metrics import METRIC_NAMES
from .trainer import TrainingFailed, TrainResult, Trainer, train

__all__ = [
    "ArtifactError", "CHECKPOINT_FILE", "Callback", "CheckpointError", "ConfigError", "ConsoleLogger", "DataPlan",
    "EarlyStoppingConfig", "EventEmitter", "HistoryRecorder", "LOSS_NAMES", "METRIC_NAMES", "MappingError",
    "OptimizerConfig", "ScheduleConfig", "TrainConfig", "TrainResult", "Trainer", "TrainingFailed",
    "check_compatibility", "evaluate", "evaluate_run", "graph_sha256", "load_checkpoint", "load_trained",
    "read_manifest", "render_metrics_table", "train",
]
