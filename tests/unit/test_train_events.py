"""Event numbering, JSON-safe metrics, the history recorder and the console logger."""

from __future__ import annotations

import io
import math

from layerloom.train import ConsoleLogger, EventEmitter, HistoryRecorder, render_metrics_table


class Collect:
    def __init__(self):
        self.events = []

    def on_event(self, event):
        self.events.append(event)


def test_emitter_numbers_events_and_hands_each_to_every_callback():
    first, second = Collect(), Collect()
    emitter = EventEmitter([first, second], first_seq=7)
    emitter.status("running", 0, 0, "go")
    emitter.emit("step", 1, 10, {"loss": 0.5})
    emitter.log("note", 1, 10)
    assert [e["seq"] for e in first.events] == [7, 8, 9] and first.events == second.events
    assert first.events[0]["status"] == "running" and first.events[2]["message"] == "note"
    assert emitter.next_seq == 10


def test_non_finite_metrics_become_none():
    sink = Collect()
    EventEmitter([sink]).emit("epoch", 1, 3, {"loss": math.nan, "auc": math.inf, "acc": 0.5})
    assert sink.events[0]["metrics"] == {"loss": None, "auc": None, "acc": 0.5}


def test_history_recorder_keeps_epoch_events_only():
    recorder = HistoryRecorder()
    emitter = EventEmitter([recorder])
    emitter.emit("step", 1, 1, {"loss": 2.0})
    emitter.emit("epoch", 1, 2, {"loss": 1.0, "val_loss": 1.5})
    emitter.emit("epoch", 2, 4, {"loss": 0.5, "val_loss": 1.0})
    assert recorder.history == [{"epoch": 1, "loss": 1.0, "val_loss": 1.5}, {"epoch": 2, "loss": 0.5, "val_loss": 1.0}]


def test_console_logger_prints_epoch_lines_and_a_closing_table():
    out = io.StringIO()
    emitter = EventEmitter([ConsoleLogger(out)])
    emitter.status("running", 0, 0, "Training 'm'", total_epochs=2, steps_per_epoch=4)
    emitter.emit("step", 1, 2, {"loss": 0.9})  # not a terminal: no live bar
    emitter.emit("epoch", 1, 4, {"loss": 0.8, "y/accuracy": 0.5, "val_loss": 0.9, "lr": 0.001})
    emitter.emit("epoch", 2, 8, {"loss": 0.4, "y/accuracy": 0.75, "val_loss": 0.6, "lr": 0.001})
    emitter.status("succeeded", 2, 8, "Training succeeded.",
                   metrics={"loss": 0.4, "y/accuracy": 0.75, "val_loss": 0.6, "test_loss": 0.7, "lr": 0.001})
    lines = out.getvalue().splitlines()
    assert lines[0] == "Training 'm'"
    assert lines[1].startswith("Epoch 1/2 - ") and "loss: 0.8000 - y/accuracy: 0.5000" in lines[1]
    assert lines[2].startswith("Epoch 2/2 - ")
    assert lines[3].split() == ["metric", "train", "valid", "test"]
    assert lines[4].split() == ["loss", "0.4000", "0.6000", "0.7000"]
    assert lines[5].split() == ["y/accuracy", "0.7500"]
    assert lines[-1] == "Training succeeded."


def test_console_logger_can_leave_failures_to_the_caller():
    out = io.StringIO()
    EventEmitter([ConsoleLogger(out, show_failures=False)]).status("failed", 0, 0, "boom")
    assert out.getvalue() == ""


def test_metrics_table_formats_small_large_and_missing_values():
    table = render_metrics_table({"loss": 1.5e-5, "val_loss": None, "y/mse": 12345.0})
    assert "1.500e-05" in table and "n/a" in table and "1.234e+04" in table
