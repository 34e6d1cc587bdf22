"""Delivering "run job X with token T" to a worker, and the worker's liveness as health sees it."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ..settings import Settings

WORKERS_DIR = "workers"
WORKER_STALE_SECONDS = 30
TASK_NAME = "layerloom.run_job"


class CeleryDispatcher:
    """Sends jobs through Celery (the filesystem transport by default, Redis when configured)."""

    def __init__(self, settings: Settings) -> None:
        from ..worker.celery_app import QUEUE, make_celery

        self.app = make_celery(settings)
        self.queue = QUEUE

    def __call__(self, job_id: str, token: str) -> None:
        self.app.send_task(TASK_NAME, args=[job_id, token], queue=self.queue)


def worker_heartbeat_path(settings: Settings, worker_id: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in worker_id)
    return Path(settings.data_dir) / WORKERS_DIR / f"{safe}.json"


def write_worker_heartbeat(settings: Settings, worker_id: str) -> None:
    path = worker_heartbeat_path(settings, worker_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"worker": worker_id, "pid": os.getpid(), "time": time.time()}))
    os.replace(tmp, path)


def live_workers(settings: Settings) -> tuple[list[str], bool]:
    """(workers that reported in the last 30 s, whether any worker ever reported)."""
    folder = Path(settings.data_dir) / WORKERS_DIR
    files = list(folder.glob("*.json")) if folder.is_dir() else []
    now = time.time()
    live = [f.stem for f in files if now - f.stat().st_mtime < WORKER_STALE_SECONDS]
    return live, bool(files)
