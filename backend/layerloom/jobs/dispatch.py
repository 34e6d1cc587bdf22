"""Delivering "run job X with token T" to a worker (worker liveness: ``jobs/workers.py``)."""

from __future__ import annotations

from ..settings import Settings

TASK_NAME = "layerloom.run_job"


class CeleryDispatcher:
    """Sends jobs through Celery (the filesystem transport by default, Redis when configured)."""

    def __init__(self, settings: Settings) -> None:
        from ..worker.celery_app import QUEUE, make_celery

        self.app = make_celery(settings)
        self.queue = QUEUE

    def __call__(self, job_id: str, token: str) -> None:
        self.app.send_task(TASK_NAME, args=[job_id, token], queue=self.queue)
