"""TensorBoard event files for a run, so ``tensorboard --logdir RUN_DIR/tensorboard`` shows the
same per-epoch scalars as the run's history (``config.tensorboard: true``, ``--tensorboard``).

Written with ``torch.utils.tensorboard`` (the ``tensorboard`` package does the file format). One
scalar per metric per epoch, tagged with the metric's own name (``loss``, ``y/accuracy``,
``val_loss`` …) at step = epoch, so a resumed run continues the same curves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .events import Callback

TENSORBOARD_DIR = "tensorboard"
_FINAL = {"succeeded", "failed", "cancelled"}


class TensorBoardWriter(Callback):
    def __init__(self, log_dir: str | Path) -> None:
        self.log_dir = Path(log_dir)
        self._writer: Any = None

    def _open(self) -> Any:
        if self._writer is None:
            from torch.utils.tensorboard import SummaryWriter  # imports tensorboard: only when asked for

            self._writer = SummaryWriter(log_dir=str(self.log_dir))
        return self._writer

    def on_event(self, event: dict[str, Any]) -> None:
        if event["type"] == "epoch":
            writer = self._open()
            for name, value in event["metrics"].items():
                if value is not None:
                    writer.add_scalar(name, value, global_step=event["epoch"], walltime=event["time"])
            writer.flush()
        elif event["type"] == "status" and event.get("status") in _FINAL and self._writer is not None:
            self._writer.close()
            self._writer = None
