"""The devices a worker hands out to its runners, one per runner at a time.

A worker given ``--devices cuda:0,cuda:1`` keeps a pool of those slots. Each job takes one for as long
as its runner lives, and the runner sees only that device (``CUDA_VISIBLE_DEVICES=1``), where it is
``cuda:0``. Two runners of one worker therefore never share a device. Without devices, runners see
the machine as it is and the pool hands out ``None``.
"""

from __future__ import annotations

import queue
import re
from collections.abc import Iterator
from contextlib import contextmanager

DEVICE_PATTERN = re.compile(r"^cuda:([0-9]+|GPU-[0-9a-fA-F-]+|MIG-[0-9a-zA-Z/-]+)$")


def parse_devices(text: str) -> list[str]:
    """``"cuda:0, cuda:1"`` -> ``["cuda:0", "cuda:1"]``; anything else is a ValueError naming it."""
    devices = list(dict.fromkeys(d.strip() for d in text.split(",") if d.strip()))
    bad = [d for d in devices if not DEVICE_PATTERN.match(d)]
    if bad:
        raise ValueError(f"device(s) {', '.join(map(repr, bad))}: write CUDA devices as cuda:N "
                         "(or cuda:GPU-<uuid>), separated by commas")
    return devices


def visible_devices(device: str) -> str:
    """The CUDA_VISIBLE_DEVICES value that shows a runner only ``device``."""
    return device.removeprefix("cuda:")


class DevicePool:
    """Slots handed to concurrent runners; ``take`` blocks while all are in use (it never does when the
    worker's concurrency is at most the number of devices, which ``layerloom worker`` checks)."""

    def __init__(self, devices: list[str]) -> None:
        self.devices = devices
        self._free: queue.Queue[str] = queue.Queue()
        for device in devices:
            self._free.put(device)

    @contextmanager
    def take(self) -> Iterator[str | None]:
        if not self.devices:
            yield None
            return
        device = self._free.get()
        try:
            yield device
        finally:
            self._free.put(device)


def runner_env(device: str | None) -> dict[str, str]:
    """What a runner's environment gains for its device slot (nothing without one)."""
    return {} if device is None else {"CUDA_VISIBLE_DEVICES": visible_devices(device)}
