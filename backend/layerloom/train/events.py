"""Training events, the one callback interface that receives them, and the two standard callbacks.

Every event is a plain JSON-able dict::

    {"seq": 17, "type": "step" | "epoch" | "status" | "log", "epoch": 3, "step": 412,
     "metrics": {"loss": 0.31, "y/loss": 0.31, "y/accuracy": 0.9, "val_loss": ..., "lr": 0.001},
     "time": 1732280000.5}

``seq`` rises by one per event across a run, and across a resumed run. ``epoch`` is the epoch the
event belongs to, counted from 1 (status events before the first epoch say 0, or the epoch a resumed
run starts after); ``step`` counts optimizer steps since the start of training. Step events
carry the epoch-to-date means (as Keras's progress bar shows them), epoch events the epoch's exact
values. Step and epoch events also carry ``samples``: training samples seen since the run began
(an epoch counts the whole train split), for samples/s. Status events add ``status`` (running,
succeeded, failed, cancelled) and ``message``; the "running" status that opens training also has
``total_epochs``, ``steps_per_epoch`` and ``train_samples``. Log events add ``message`` and
``level``. A metric that is not a finite number is reported as None. Fields are only ever added:
a reader must ignore keys it does not know, and treat ``samples`` as optional (older runs lack it).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Iterable
from typing import Any, TextIO


class Callback:
    """Receives every event of a run, in order. Override ``on_event``."""

    def on_event(self, event: dict[str, Any]) -> None:
        raise NotImplementedError


class EventEmitter:
    """Numbers events and hands them to every callback."""

    def __init__(self, callbacks: Iterable[Callback], first_seq: int = 0) -> None:
        self.callbacks = list(callbacks)
        self.next_seq = first_seq

    def emit(self, type_: str, epoch: int, step: int, metrics: dict[str, float | None] | None = None,
             **extra: Any) -> dict[str, Any]:
        event = {"seq": self.next_seq, "type": type_, "epoch": epoch, "step": step,
                 "metrics": json_safe(metrics or {}), "time": time.time(), **extra}
        self.next_seq += 1
        for callback in self.callbacks:
            callback.on_event(event)
        return event

    def status(self, status: str, epoch: int, step: int, message: str,
               metrics: dict[str, float | None] | None = None, **extra: Any) -> dict[str, Any]:
        return self.emit("status", epoch, step, metrics, status=status, message=message, **extra)

    def log(self, message: str, epoch: int, step: int, level: str = "info") -> dict[str, Any]:
        return self.emit("log", epoch, step, None, message=message, level=level)


def json_safe(metrics: dict[str, Any]) -> dict[str, float | None]:
    """NaN and infinities are not JSON; they become None."""
    return {k: (float(v) if v is not None and math.isfinite(v) else None) for k, v in metrics.items()}


class HistoryRecorder(Callback):
    """Builds ``history``: one dict per epoch, ``{"epoch": n, **metrics}``."""

    def __init__(self, history: list[dict[str, Any]] | None = None) -> None:
        self.history = list(history or [])

    def on_event(self, event):
        if event["type"] == "epoch":
            self.history.append({"epoch": event["epoch"], **event["metrics"]})


class ConsoleLogger(Callback):
    """Prints a line per epoch (with a live bar on a terminal), log messages, and a closing table."""

    def __init__(self, stream: TextIO | None = None, bar_width: int = 24, show_failures: bool = True) -> None:
        self.stream = stream or sys.stdout
        self.bar_width = bar_width
        self.show_failures = show_failures  # off when the caller reports the exception itself
        self.live = bool(getattr(self.stream, "isatty", lambda: False)())
        self.total_epochs = 0
        self.steps_per_epoch = 0
        self.epoch_started = time.time()
        self.epoch_first_step = 0

    def on_event(self, event):
        kind = event["type"]
        if kind == "status":
            self._status(event)
        elif kind == "log":
            self._print(f"{event['message']}")
        elif kind == "step" and self.live:
            done = event["step"] - self.epoch_first_step
            self._write(f"\r{self._prefix(event['epoch'], done)} - {self._metrics(event['metrics'])}\x1b[K")
        elif kind == "epoch":
            elapsed = event["time"] - self.epoch_started
            self.epoch_started, self.epoch_first_step = event["time"], event["step"]
            prefix = self._prefix(event["epoch"], self.steps_per_epoch)
            line = f"{prefix} - {elapsed:.1f}s - {self._metrics(event['metrics'])}"
            self._write(("\r" if self.live else "") + line + ("\x1b[K\n" if self.live else "\n"))

    def _status(self, event):
        if event["status"] == "running":
            self.total_epochs = event.get("total_epochs", 0)
            self.steps_per_epoch = event.get("steps_per_epoch", 0)
            self.epoch_started, self.epoch_first_step = event["time"], event["step"]
        elif event["status"] == "failed" and not self.show_failures:
            return
        elif event["metrics"]:
            self._write(render_metrics_table(event["metrics"]) + "\n")
        self._print(event["message"])

    def _prefix(self, epoch: int, steps_done: int) -> str:
        label = f"Epoch {epoch}/{self.total_epochs}"
        if not self.live or not self.steps_per_epoch:
            return label
        filled = min(self.bar_width, self.bar_width * steps_done // self.steps_per_epoch)
        bar = "=" * filled + (">" if filled < self.bar_width else "") + "." * max(self.bar_width - filled - 1, 0)
        return f"{label} [{bar}] {steps_done}/{self.steps_per_epoch}"

    @staticmethod
    def _metrics(metrics: dict[str, float | None]) -> str:
        return " - ".join(f"{name}: {format_value(value)}" for name, value in metrics.items())

    def _print(self, text: str) -> None:
        self._write(text + "\n")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


def format_value(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if 1e-3 <= abs(value) < 1e4 or value == 0 else f"{value:.3e}"


def render_metrics_table(metrics: dict[str, float | None]) -> str:
    """A table of final metrics: one row per metric, one column per split that reports it."""
    columns = {"train": {}, "valid": {}, "test": {}}
    for name, value in metrics.items():
        if name == "lr" or name == "epoch":
            continue
        for prefix, column in (("val_", "valid"), ("test_", "test")):
            if name.startswith(prefix):
                columns[column][name[len(prefix):]] = value
                break
        else:
            columns["train"][name] = value
    shown = [c for c in columns if columns[c]]
    rows = list(dict.fromkeys(name for c in shown for name in columns[c]))
    width = max([len("metric")] + [len(r) for r in rows])
    lines = [f"{'metric':<{width}}  " + "  ".join(f"{c:>10}" for c in shown)]
    for row in rows:
        cells = "  ".join(f"{format_value(columns[c][row]) if row in columns[c] else '':>10}" for c in shown)
        lines.append(f"{row:<{width}}  {cells}")
    return "\n".join(lines)
