"""Delivering "run job X with token T" to a worker on the job's queue (``jobs/queues.py``;
worker liveness: ``jobs/workers.py``)."""

from __future__ import annotations

from ..settings import Settings
from .queues import DEFAULT_QUEUE, celery_queue

TASK_NAME = "layerloom.run_job"


class CeleryDispatcher:
    """Sends jobs through Celery (the filesystem transport by default, Redis when configured)."""

    def __init__(self, settings: Settings) -> None:
        from ..worker.celery_app import make_celery

        self.app = make_celery(settings)

    def __call__(self, job_id: str, token: str, queue: str = DEFAULT_QUEUE) -> None:
        self.app.send_task(TASK_NAME, args=[job_id, token], queue=celery_queue(queue))
