"""The training loop: epochs over in-memory batches, validation, schedules, early stopping,
checkpoints, cancellation and the final artifacts.

    result = train(graph_document, dataset, {"epochs": 10, "optimizer": {"name": "adam"}},
                   out_dir="runs/digits", callbacks=[ConsoleLogger()])

The step loop does the least possible per batch: slice the device tensors, forward, losses from a
precompiled list of heads, backward, optimizer step, and append detached tensors for bookkeeping.
It never waits for the device except every ``log_every_steps`` steps and at the end of an epoch,
where one transfer yields the running metrics and tells whether a loss went NaN or infinite.
"""

from __future__ import annotations

import dataclasses
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

import torch

from ..data import Dataset
from ..graph import CompileError, GraphModel, analyze, build_model
from ..graph.augment_ops import position_augmentations
from .accumulate import PassAccumulator
from .acceleration import accelerate, amp_dtype
from .adapt import adapt_layers
from .artifacts import graph_sha256, write_artifacts
from .batching import DeviceSplit, batch_bounds, epoch_batches, epoch_permutation, load_split
from .checkpoint import (CHECKPOINT_FILE, CheckpointError, capture_rng_state, load_checkpoint, restore_rng_state,
                         save_checkpoint)
from .config import ConfigError, TrainConfig
from .distributed import Distributed
from .engine import Engine
from .events import Callback, EventEmitter, HistoryRecorder, json_safe
from .init_weights import load_initial_weights
from .tensorboard import TENSORBOARD_DIR, TensorBoardWriter
from .mapping import check_compatibility
from .standardize import standardize_graph
from .optim import build_optimizer, build_scheduler
from .stopping import EarlyStopping
from .streaming import default_workers, should_stream, stream_split

CancelSignal = threading.Event | Callable[[], bool] | None
# With the default log_every_steps, a due step event is skipped when the last event is more recent
# than this: short epochs then report by epoch only, and waiting for the device stays rare.
MIN_SECONDS_BETWEEN_STEP_EVENTS = 0.5


class TrainingFailed(RuntimeError):
    """Training could not go on; the message names the epoch, the step and the head(s)."""

    def __init__(self, message: str, *, epoch: int, step: int, heads: list[str]) -> None:
        super().__init__(message)
        self.epoch, self.step, self.heads = epoch, step, heads


class _Cancelled(Exception):
    pass


@dataclasses.dataclass
class TrainResult:
    status: Literal["succeeded", "cancelled"]
    model: GraphModel
    history: list[dict[str, Any]]
    metrics: dict[str, float | None]  # the kept epoch's metrics (train and val_), plus test_ ones
    epochs_completed: int
    best_epoch: int | None  # the epoch whose weights the model holds, when early stopping restored them
    stopped_early: bool
    run_dir: Path | None


def train(graph: Mapping[str, Any], dataset: Dataset, config: TrainConfig | Mapping[str, Any] | None = None, *,
          out_dir: str | Path | None = None, callbacks: Iterable[Callback] = (), cancel: CancelSignal = None,
          resume: bool = False, first_seq: int | None = None) -> TrainResult:
    """Train ``graph`` (a graph document) on ``dataset``.

    ``out_dir`` receives a checkpoint after every epoch and the final artifacts; without it the run
    stays in memory. ``resume`` continues from ``out_dir``'s checkpoint when there is one.
    ``cancel`` (a threading.Event or a callable) is checked before every step. ``first_seq``
    numbers the first event (a resumed run otherwise continues from the checkpoint's count).

    Raises CompileError, MappingError (every data problem at once), ConfigError, CheckpointError,
    DatasetError (an impossible validation_split) before training, and TrainingFailed when a loss
    goes NaN or infinite; a cancelled run returns with status "cancelled".
    """
    return Trainer(graph, dataset, config, out_dir=out_dir, callbacks=callbacks, cancel=cancel,
                   resume=resume, first_seq=first_seq).run()


def resolve_device(name: str) -> torch.device:
    """The device to train on; CUDA devices get an explicit index (RNG state is per device)."""
    if name == "cpu" or (name == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ConfigError(f"device {name!r} was asked for but CUDA is not available here; use device 'auto' or 'cpu'.")
    device = torch.device("cuda" if name == "auto" else name)
    if device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    if device.index >= torch.cuda.device_count():
        raise ConfigError(f"device {name!r} does not exist; this machine has {torch.cuda.device_count()} CUDA device(s).")
    return device


class Trainer:
    def __init__(self, graph: Mapping[str, Any], dataset: Dataset, config: TrainConfig | Mapping[str, Any] | None = None,
                 *, out_dir: str | Path | None = None, callbacks: Iterable[Callback] = (), cancel: CancelSignal = None,
                 resume: bool = False, first_seq: int | None = None, init_weights: str | Path | None = None) -> None:
        self.graph = dict(graph)
        self.init_weights = init_weights  # a safetensors file to start from (an imported Keras model's weights)
        self.dataset = dataset
        self.config = config if isinstance(config, TrainConfig) else TrainConfig.model_validate(config or {})
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.resume = resume
        self.first_seq = first_seq
        self.cancel_requested = _cancel_check(cancel)
        self.recorder = HistoryRecorder()
        self.dist = Distributed.from_env()  # torchrun's ranks (train/distributed.py); one process otherwise
        callbacks = list(callbacks) if self.dist.writes else []  # only rank 0 reports
        if self.config.tensorboard and self.out_dir is not None and self.dist.writes:
            callbacks.append(TensorBoardWriter(self.out_dir / TENSORBOARD_DIR))
        self.emitter = EventEmitter([self.recorder, *callbacks], first_seq or 0)
        # Told after each epoch's checkpoint is on disk (the runner hands it to its worker to store).
        self.checkpoint_hooks = [cb.on_checkpoint for cb in callbacks if hasattr(cb, "on_checkpoint")]
        self.notes: list[str] = []  # said in log events once the run has started
        self.epoch = 0  # epochs completed
        self.step = 0  # optimizer steps taken

    # ---- the run -----------------------------------------------------------------------

    def run(self) -> TrainResult:
        try:
            if self.resume and self.out_dir is None:
                raise ConfigError("resume needs out_dir: the directory whose checkpoint to continue from.")
            self.device = self.dist.device(resolve_device(self.config.device))
            self.dist.init(self.device)
            cuda_devices = [self.device] if self.device.type == "cuda" else []
            with torch.random.fork_rng(devices=cuda_devices):  # the caller's random state stays untouched
                self._setup()
                self._announce()
                self._train_epochs()
                return self._finish()
        except _Cancelled:
            self.emitter.status("cancelled", self.epoch, self.step, self._cancel_message())
            return TrainResult("cancelled", self.model, self.history, {}, self.epoch, None, False, self.out_dir)
        except Exception as err:
            self.emitter.status("failed", self.epoch, self.step, str(err) or type(err).__name__)
            raise
        finally:
            self.dist.close()

    @property
    def history(self) -> list[dict[str, Any]]:
        return self.recorder.history

    def _setup(self) -> None:
        analysis = analyze(self.graph)
        if not analysis.ok:
            raise CompileError(analysis.errors)
        self.graph_name = analysis.name
        self.graph_hash = graph_sha256(self.graph)
        self.training_dataset = self._training_dataset()
        self.plan = check_compatibility(analysis, self.training_dataset, self.config)
        analysis = self._standardize(analysis)
        self.model = build_model(analysis, seed=self.config.seed)
        if self.init_weights is not None:
            try:
                load_initial_weights(self.model, self.init_weights, analysis)
            except ValueError as err:
                raise ConfigError(str(err)) from None
            self.notes.append("Started from the given initial weights.")
        self.model = self.model.to(self.device)
        self.engine = Engine(self.model, self.plan, amp_dtype(self.config, self.device, self.notes), self.device.type)
        if self.dist.active:
            self.engine.forward = self.dist.wrap(self.model, self.device)
            self.notes.append(f"Distributed data parallel over {self.dist.world} processes: each takes its share "
                              f"of every batch of {self.config.batch_size}.")
        accelerate(self.engine, self.model, self.config, self.device, self.notes,
                   lambda message: self.emitter.log(message, self.epoch, self.step))
        self._load_data()
        self._prepare_optimization()
        torch.manual_seed(self.config.seed)  # Dropout and other random layers draw from here
        if self.resume:
            self._restore()
        self._adapt()

    def _standardize(self, analysis):
        """With config.standardize, the run trains (and saves) ``run_graph``: the graph with the training
        split's feature statistics as a fixed Normalization after each float-vector Input."""
        self.run_graph, self.standardization = self.graph, {}
        if not self.config.standardize:
            return analysis
        self.run_graph, self.standardization, notes = standardize_graph(self.graph, analysis, self.plan,
                                                                        self.training_dataset)
        self.notes.extend(notes)
        if not self.standardization:
            return analysis
        for node, entry in self.standardization.items():
            constant = f"; {entry['constant_features']} constant feature(s) only shifted" if entry["constant_features"] else ""
            self.notes.append(f"Standardized input {node!r} ({len(entry['mean'])} features of {entry['array']!r}) with "
                              f"the mean and std of the {entry['samples']} training samples{constant}.")
        standardized = analyze(self.run_graph)
        if not standardized.ok:  # cannot happen for a graph that compiled: the new nodes keep every shape
            raise CompileError(standardized.errors)
        return standardized

    def _adapt(self) -> None:
        """Layers that learn statistics from the training split (Normalization with adapt) do so now,
        before the first step; a resumed run's checkpoint already holds them."""
        train = self.splits["train"]
        adapted = adapt_layers(self.model, train, self.config.effective_eval_batch_size)
        if adapted:
            self.notes.append(f"Adapted {', '.join(adapted)} to the training split ({train.size} samples).")

    def _load_data(self) -> None:
        wanted = [name for name in ["train", "valid"] + (["test"] if self.config.evaluate_test else [])
                  if name in self.training_dataset.splits]
        streamed, note = should_stream(self.config.data_loading, self.training_dataset, wanted, self.plan)
        if note:
            self.notes.append(note)
        if streamed:
            workers = default_workers() if self.config.data_workers is None else self.config.data_workers
            self.splits = {name: stream_split(self.training_dataset, name, self.plan, self.device, workers)
                           for name in wanted}
        else:
            self.splits = {name: load_split(self.training_dataset, name, self.plan, self.device) for name in wanted}
        self.batches = batch_bounds(self.splits["train"].size, self.config.batch_size)
        self.log_every = self.config.log_every_steps or max(1, len(self.batches) // 20)
        self.last_event_time = 0.0
        # With automatic step events, the run's first step reports its loss at once (an explicit
        # log_every_steps is followed exactly).
        self.awaiting_first_step_event = self.config.log_every_steps is None and not self.dist.active

    def _prepare_optimization(self) -> None:
        config = self.config
        self.params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = build_optimizer(self.params, config.optimizer)
        self.scheduler = build_scheduler(self.optimizer, config.schedule, config.epochs)
        # bfloat16 has float32's range: only float16 needs loss scaling.
        self.scaler = torch.amp.GradScaler("cuda") if self.engine.amp_dtype == torch.float16 else None
        self.clips_gradients = config.grad_clip_norm is not None or config.grad_clip_value is not None
        self.stopper = EarlyStopping(config.early_stopping) if config.early_stopping else None
        self.best_weights: dict[str, torch.Tensor] | None = None

    def _training_dataset(self) -> Dataset:
        """The dataset as trained on: with validation_split, the valid split is carved from train."""
        fraction = self.config.validation_split
        if fraction <= 0:
            return self.dataset
        if "valid" in self.dataset.splits:
            self.notes.append(f"validation_split {fraction} replaces the dataset's own valid split.")
        without_valid = {name: arrays for name, arrays in self.dataset.splits.items() if name != "valid"}
        base = dataclasses.replace(self.dataset, splits=without_valid)
        return base.with_split(valid_fraction=fraction, seed=self.config.seed)

    def _announce(self) -> None:
        train, valid = self.splits["train"], self.splits.get("valid")
        message = (f"Training {self.graph_name!r} on {self.device} for {self.config.epochs} epoch(s): "
                   f"{train.size} training samples, {len(self.batches)} steps per epoch"
                   + (f", {valid.size} validation samples." if valid else ", no validation data."))
        self.emitter.status("running", self.epoch, self.step, message,
                            total_epochs=self.config.epochs, steps_per_epoch=len(self.batches),
                            train_samples=train.size)
        for note in self.notes:
            self.emitter.log(note, self.epoch, self.step)

    def _train_epochs(self) -> None:
        while self.epoch < self.config.epochs and not (self.stopper and self.stopper.should_stop):
            epoch = self.epoch + 1
            lr = self.optimizer.param_groups[0]["lr"]
            metrics = self._train_epoch(epoch, lr)
            if "valid" in self.splits:
                values = self._evaluate("valid")
                metrics.update({f"val_{name}": value for name, value in values.items()})
            metrics["lr"] = lr
            self.epoch = epoch
            self.emitter.emit("epoch", epoch, self.step, metrics, samples=epoch * self.splits["train"].size)
            self._after_epoch(epoch, metrics)
            self._save_checkpoint()
            if self.out_dir is not None:
                for hook in self.checkpoint_hooks:
                    hook(epoch, self.out_dir / CHECKPOINT_FILE)

    def _train_epoch(self, epoch: int, lr: float) -> dict[str, float]:
        self.model.train()
        train = self.splits["train"]
        order = epoch_permutation(self.config.seed, epoch, train.size, self.device) if self.config.shuffle else None
        accumulator = PassAccumulator(self.engine.heads)
        first_step = self.step
        position_augmentations(self.model.augmentations, epoch, first_step)  # replayable after a resume
        last = len(self.batches)
        # Samples trained on since the run began (for samples/s): every earlier epoch saw the whole split.
        samples = (epoch - 1) * train.size
        self.last_event_time = time.monotonic()
        # Bound once: this loop is the hot path, and every attribute lookup shows in small models.
        cancel_requested, losses, apply_gradients, record, log_every = (
            self.cancel_requested, self.engine.batch_losses, self._apply_gradients, accumulator.record, self.log_every)
        batches = epoch_batches(train, self.config.batch_size, order)
        if self.dist.active:
            batches = self.dist.shard(batches)
            apply_gradients = lambda total: self._apply_gradients(total * self.dist.scale)  # noqa: E731
        for done, (size, inputs, targets) in enumerate(batches, start=1):
            if cancel_requested():
                self.step = first_step + done - 1
                raise _Cancelled
            total, head_losses, preds, targets = losses(inputs, targets)
            apply_gradients(total)
            record(size, total, head_losses, preds, targets)
            samples += size
            if (done % log_every == 0 or self.awaiting_first_step_event) and done < last and self._step_event_due():
                self.step = first_step + done
                running = self._summarize(accumulator, epoch, first_step, running_only=True)
                self.emitter.emit("step", epoch, self.step, {**running, "lr": lr}, samples=samples)
        self.step = first_step + last
        return self._summarize(accumulator, epoch, first_step, running_only=False)

    def _evaluate(self, split: str) -> dict[str, float]:
        return self.engine.evaluate(self.splits[split], self.config.effective_eval_batch_size, self._check_cancel)

    def _step_event_due(self) -> bool:
        if self.dist.active:
            return True  # by step count only: a summary is a collective every rank must reach together
        if self.config.log_every_steps is None:
            now = time.monotonic()
            if self.awaiting_first_step_event:
                self.awaiting_first_step_event = False  # the first loss of the run: the chart moves at once
            elif now - self.last_event_time < MIN_SECONDS_BETWEEN_STEP_EVENTS:
                return False
            self.last_event_time = now
        return True

    def _apply_gradients(self, total: torch.Tensor) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        if self.scaler is None:
            total.backward()
            if self.clips_gradients:
                self._clip_gradients()
            self.optimizer.step()
            return
        self.scaler.scale(total).backward()
        if self.clips_gradients:
            self.scaler.unscale_(self.optimizer)  # clip the true gradients, not the scaled ones
            self._clip_gradients()
        self.scaler.step(self.optimizer)
        self.scaler.update()

    def _clip_gradients(self) -> None:
        if self.config.grad_clip_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.params, self.config.grad_clip_norm)
        if self.config.grad_clip_value is not None:
            torch.nn.utils.clip_grad_value_(self.params, self.config.grad_clip_value)

    def _summarize(self, accumulator: PassAccumulator, epoch: int, first_step: int, running_only: bool) -> dict[str, float]:
        """The one synchronisation: epoch-to-date values, and the NaN guard."""
        values = self.dist.summary(accumulator, running_only) if self.dist.active else accumulator.summary(running_only)
        if not math.isfinite(values["loss"]):
            raise self._nonfinite_error(accumulator, epoch, first_step)
        return values

    def _nonfinite_error(self, accumulator: PassAccumulator, epoch: int, first_step: int) -> TrainingFailed:
        index, heads = accumulator.first_nonfinite()
        step = first_step + index + 1
        where = (f"in the loss of head(s) {', '.join(repr(h) for h in heads)}" if heads
                 else "in the activity-regularization penalty")
        message = (f"Training failed: the loss became NaN or infinite at epoch {epoch}, step {step} "
                   f"(step {index + 1} of the epoch), {where}. Lower the learning rate "
                   f"(now {self.optimizer.param_groups[0]['lr']:g}), clip gradients (grad_clip_norm), "
                   f"or check the data for extreme values.")
        return TrainingFailed(message, epoch=epoch, step=step, heads=heads)

    def _after_epoch(self, epoch: int, metrics: dict[str, float]) -> None:
        if self.stopper is not None:
            improved = self.stopper.update(epoch, metrics)
            if improved and self.stopper.config.restore_best_weights:
                self.best_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            if self.stopper.should_stop:
                s = self.stopper
                self.emitter.log(f"Early stopping after epoch {epoch}: {s.config.monitor} has not improved for "
                                 f"{s.wait} epoch(s); the best was {s.best:.6g} at epoch {s.best_epoch}.", epoch, self.step)
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            value = metrics.get(self.config.schedule.monitor)
            self.scheduler.step(float("nan") if value is None else value)
        elif self.scheduler is not None:
            self.scheduler.step()

    def _finish(self) -> TrainResult:
        restored_epoch = None
        s = self.stopper
        if s is not None and s.config.restore_best_weights and self.best_weights is not None and s.best_epoch != self.epoch:
            self.model.load_state_dict(self.best_weights)
            restored_epoch = s.best_epoch
            self.emitter.log(f"Restored the weights of epoch {s.best_epoch} (best {s.config.monitor}: {s.best:.6g}).",
                             self.epoch, self.step)
        kept = self.history[(restored_epoch or self.epoch) - 1]
        metrics = {name: value for name, value in kept.items() if name != "epoch"}
        if "test" in self.splits:
            values = self._evaluate("test")
            metrics.update(json_safe({f"test_{name}": value for name, value in values.items()}))
        stopped_early = bool(s and s.should_stop and self.epoch < self.config.epochs)
        if self.out_dir is not None and self.dist.writes:
            write_artifacts(self.out_dir, self.model, graph=self.run_graph, history=self.history,
                            manifest=self._manifest(metrics, restored_epoch, stopped_early))
        message = f"Training succeeded after {self.epoch} epoch(s)" + (" (stopped early)." if stopped_early else ".")
        self.emitter.status("succeeded", self.epoch, self.step, message, metrics=metrics)
        return TrainResult("succeeded", self.model, self.history, metrics, self.epoch, restored_epoch,
                           stopped_early, self.out_dir)

    def _manifest(self, metrics: dict[str, float | None], restored_epoch: int | None,
                  stopped_early: bool) -> dict[str, Any]:
        mapping = {feed.node: feed.array for feed in self.plan.inputs}
        mapping.update({head.node: head.array for head in self.plan.heads})
        return {
            "name": self.graph_name,
            "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "dataset": self.training_dataset.describe(),
            "data_mapping": mapping,
            "standardization": self.standardization,
            "config": self.config.model_dump(mode="json"),
            "device": str(self.device),
            "metrics": metrics,
            "epochs_completed": self.epoch,
            "restored_best_epoch": restored_epoch,
            "stopped_early": stopped_early,
        }

    # ---- cancellation ------------------------------------------------------------------

    def _check_cancel(self) -> None:
        if self.cancel_requested():
            raise _Cancelled

    def _cancel_message(self) -> str:
        saved = f"; the checkpoint of epoch {self.epoch} can be resumed" if self.out_dir and self.epoch else ""
        return f"Cancelled during epoch {self.epoch + 1} at step {self.step}{saved}."

    # ---- checkpoints -------------------------------------------------------------------

    def _save_checkpoint(self) -> None:
        if self.out_dir is None or not self.dist.writes:
            return
        save_checkpoint(self.out_dir / CHECKPOINT_FILE, {
            "graph_sha256": self.graph_hash,
            "config": self.config.model_dump(mode="json"),
            "epoch": self.epoch,
            "global_step": self.step,
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "grad_scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "rng": capture_rng_state(self.device),
            "history": self.history,
            "early_stopping": self.stopper.state_dict() if self.stopper is not None else None,
            "best_weights": self.best_weights,
            "event_seq": self.emitter.next_seq,
        })

    def _restore(self) -> None:
        path = self.out_dir / CHECKPOINT_FILE
        if not path.exists():
            self.notes.append(f"No checkpoint in {self.out_dir}; starting from the beginning.")
            return
        state = load_checkpoint(path)
        if state["graph_sha256"] != self.graph_hash:
            raise CheckpointError(f"{path} was made for a different graph; train in a new directory instead.")
        current = self.config.model_dump(mode="json")
        changed = sorted(k for k in current.keys() | state["config"].keys() if current.get(k) != state["config"].get(k))
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        for part, key in ((self.scheduler, "scheduler"), (self.scaler, "grad_scaler"), (self.stopper, "early_stopping")):
            if part is not None and state[key] is not None:
                part.load_state_dict(state[key])
        if state["best_weights"] is not None:
            self.best_weights = {k: v.to(self.device) for k, v in state["best_weights"].items()}
        restore_rng_state(state["rng"], self.device)
        self.recorder.history = list(state["history"])
        self.epoch, self.step = state["epoch"], state["global_step"]
        self.emitter.next_seq = max(state["event_seq"], self.first_seq or 0)
        self.notes.append(f"Resumed from the checkpoint of epoch {self.epoch} (step {self.step}).")
        if changed:
            self.notes.append(f"Config changed since the checkpoint: {', '.join(changed)}.")


def _cancel_check(cancel: CancelSignal) -> Callable[[], bool]:
    if cancel is None:
        return lambda: False
    if isinstance(cancel, threading.Event):
        return cancel.is_set
    return cancel
