"""The devices a worker hands out to its runners.

A worker given ``--devices cuda:0,cuda:1`` keeps a pool of those slots. Each job takes one slot per
rank (one for a plain job, ``config.distributed.nproc_per_node`` for a distributed one) for as long as
its runner lives, and the runner sees only those devices (``CUDA_VISIBLE_DEVICES=1``, or ``0,1``),
where they are ``cuda:0``, ``cuda:1``... and rank r uses ``cuda:r``. Two runners of one worker
therefore never share a device. Without devices, runners see the machine as it is and the pool hands
out ``None``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

DEFAULT_NPROC_PER_NODE = 2  # config.distributed's default (train/config.py reads it from here)
DEVICE_PATTERN = re.compile(r"cuda:([0-9]+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-zA-Z/-]+)")


def parse_devices(text: str) -> list[str]:
    """``"cuda:0, cuda:1"`` -> ``["cuda:0", "cuda:1"]``; anything else is a ValueError naming it."""
    devices = list(dict.fromkeys(d.strip() for d in text.split(",") if d.strip()))
    bad = [d for d in devices if not DEVICE_PATTERN.fullmatch(d)]
    if bad:
        raise ValueError(f"device(s) {', '.join(map(repr, bad))}: write CUDA devices as cuda:N "
                         "(or cuda:GPU-<uuid>), separated by commas")
    return devices


def visible_devices(devices: Sequence[str]) -> str:
    """The CUDA_VISIBLE_DEVICES value that shows a runner only ``devices``, in that order."""
    return ",".join(device.removeprefix("cuda:") for device in devices)


def slots_needed(config: dict[str, Any]) -> int:
    """How many device slots a job's runner takes: one per rank on this node."""
    distributed = config.get("distributed")
    if not isinstance(distributed, dict):
        return 1
    return max(1, int(distributed.get("nproc_per_node", DEFAULT_NPROC_PER_NODE)))


class DevicePool:
    """Slots handed to concurrent runners. ``take(n)`` takes n slots at once or waits until n are
    free, so two multi-device jobs never each hold part of what the other needs (no deadlock). It
    never waits when every job takes one slot and the worker's concurrency is at most the number of
    devices, which ``layerloom worker`` checks."""

    def __init__(self, devices: list[str]) -> None:
        self.devices = devices
        self._free = list(devices)
        self._changed = threading.Condition()

    def shortfall(self, count: int) -> str | None:
        """Why a job taking ``count`` slots can never run here (waiting would not help), or None."""
        if not self.devices or count <= len(self.devices):
            return None
        return (f"The job runs {count} processes, one per device, but this worker has {len(self.devices)} "
                f"device(s) ({', '.join(self.devices)}): lower config.distributed.nproc_per_node to at most "
                f"{len(self.devices)}, or send the job to a worker with more devices (config.queue).")

    @contextmanager
    def take(self, count: int = 1) -> Iterator[list[str] | None]:
        if not self.devices:
            yield None
            return
        if self.shortfall(count):
            raise ValueError(self.shortfall(count))
        with self._changed:
            self._changed.wait_for(lambda: len(self._free) >= count)
            taken, self._free = self._free[:count], self._free[count:]
        try:
            yield taken
        finally:
            with self._changed:
                self._free.extend(taken)
                self._free.sort(key=self.devices.index)  # hand out low devices first, as before
                self._changed.notify_all()


def runner_env(devices: Sequence[str] | None) -> dict[str, str]:
    """What a runner's environment gains for its device slots (nothing without them)."""
    return {} if not devices else {"CUDA_VISIBLE_DEVICES": visible_devices(devices)}
