"""Early stopping with Keras's rules, and a state that survives a checkpoint."""

from __future__ import annotations

import math
from typing import Any

from .config import EarlyStoppingConfig
from .mapping import monitor_mode


class EarlyStopping:
    """Watches one epoch metric. An epoch improves when it beats the best by more than min_delta;
    training stops once ``patience`` epochs in a row have not (Keras: patience 0 stops at the
    first epoch that does not improve)."""

    def __init__(self, config: EarlyStoppingConfig) -> None:
        self.config = config
        self.maximize = monitor_mode(config.monitor, config.mode) == "max"
        self.best = -math.inf if self.maximize else math.inf
        self.best_epoch = 0
        self.wait = 0
        self.stopped_epoch = 0

    def update(self, epoch: int, metrics: dict[str, float | None]) -> bool:
        """Record an epoch; True when it is the new best."""
        value = metrics.get(self.config.monitor)
        if value is not None and self._improves(value):
            self.best, self.best_epoch, self.wait = value, epoch, 0
            return True
        self.wait += 1
        if self.wait >= self.config.patience:
            self.stopped_epoch = epoch
        return False

    @property
    def should_stop(self) -> bool:
        return self.stopped_epoch > 0

    def _improves(self, value: float) -> bool:
        delta = self.config.min_delta
        return value > self.best + delta if self.maximize else value < self.best - delta

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait, "stopped_epoch": self.stopped_epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch = state["best"], state["best_epoch"]
        self.wait, self.stopped_epoch = state["wait"], state["stopped_epoch"]
