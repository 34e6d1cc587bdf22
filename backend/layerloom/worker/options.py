"""A worker's controls — name, concurrency, devices, queues — resolved from settings (the CLI's
options are exported as LAYERLOOM_WORKER_* first) and checked once, before Celery starts.

Concurrency K runs up to K jobs at once, each in its own runner: Celery's thread pool with K
threads and a prefetch of one message per thread, in one process, so the supervision of each runner
(process group, parent-death signal, lease, cancel) is the same as with one job, and the worker's
registry entry and device pool are shared by its jobs. K = 1 is Celery's solo pool, as before.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..jobs.devices import parse_devices
from ..jobs.queues import DEFAULT_QUEUE, EMBEDDED_QUEUES, GPU_QUEUE, parse_queues
from ..settings import Settings


@dataclass(frozen=True)
class WorkerOptions:
    name: str  # empty: the registry shows host:pid
    concurrency: int
    devices: list[str]
    queues: list[str]

    @classmethod
    def from_settings(cls, settings: Settings, embedded: bool = False) -> "WorkerOptions":
        """Raises ValueError naming the setting to change."""
        try:
            devices = parse_devices(settings.worker_devices)
        except ValueError as err:
            raise ValueError(f"--devices / LAYERLOOM_WORKER_DEVICES: {err}") from None
        try:
            queues = parse_queues(settings.worker_queues)
        except ValueError as err:
            raise ValueError(f"--queues / LAYERLOOM_WORKER_QUEUES: {err}") from None
        if not queues:
            queues = list(EMBEDDED_QUEUES) if embedded else [DEFAULT_QUEUE] + ([GPU_QUEUE] if devices else [])
        concurrency = settings.worker_concurrency or len(devices) or 1
        if devices and concurrency > len(devices):
            raise ValueError(f"--concurrency {concurrency} needs as many devices, but --devices names "
                             f"{len(devices)}: two runners would share a device. Lower the concurrency or "
                             "list more devices.")
        return cls(settings.worker_name, concurrency, devices, queues)

    def env(self) -> dict[str, str]:
        """The resolved options as environment, for the Celery process (``worker.tasks`` reads them back).
        With several runners at once, each gets an even share of the cores unless OMP_NUM_THREADS is set."""
        env = {"LAYERLOOM_WORKER_NAME": self.name, "LAYERLOOM_WORKER_CONCURRENCY": str(self.concurrency),
               "LAYERLOOM_WORKER_DEVICES": ",".join(self.devices), "LAYERLOOM_WORKER_QUEUES": ",".join(self.queues)}
        if self.concurrency > 1 and "OMP_NUM_THREADS" not in os.environ:
            env["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // self.concurrency))
        return env
