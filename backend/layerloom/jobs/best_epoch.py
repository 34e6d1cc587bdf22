"""The best epoch of a run by its monitored metric: what the Jobs table shows as "Best".

The monitored metric is early_stopping.monitor when early stopping is on, else val_loss when the run
has validation, else loss; its direction follows the trainer's own rule (``monitor_mode``), so the
table and early stopping agree on what "best" means.
"""

from __future__ import annotations

from typing import Any

from ..train.mapping import monitor_mode


def monitored_metric(config: dict[str, Any], epochs: list[dict[str, Any]]) -> tuple[str, str]:
    """(metric name, "min" or "max") for a job's stored config and its per-epoch rows."""
    reported = {k for row in epochs for k in row}
    stopping = config.get("early_stopping")
    if isinstance(stopping, dict):
        monitor = str(stopping.get("monitor", "val_loss"))
        if monitor in reported:
            return monitor, monitor_mode(monitor, str(stopping.get("mode", "auto")))
    monitor = "val_loss" if "val_loss" in reported else "loss"
    return monitor, monitor_mode(monitor, "auto")


def best_epoch(config: dict[str, Any], epochs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """{epoch, monitor, mode, value, metrics} of the best epoch (the earliest on ties), or None
    when no epoch reported the monitored metric."""
    monitor, mode = monitored_metric(config, epochs)
    scored = [row for row in epochs if isinstance(row.get(monitor), (int, float))]
    if not scored:
        return None
    sign = 1 if mode == "max" else -1
    best = max(scored, key=lambda row: (sign * row[monitor], -row["epoch"]))
    metrics = {k: v for k, v in best.items() if k != "epoch"}
    return {"epoch": best["epoch"], "monitor": monitor, "mode": mode, "value": best[monitor], "metrics": metrics}
