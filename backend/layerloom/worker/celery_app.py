"""The Celery application, configured from settings by one pure function.

Celery only delivers "run job X with dispatch token T"; the database is the source of truth for
job state, so messages are acknowledged when a task starts (a lost worker is detected by its
expired lease, not by redelivery), one message is prefetched at a time, and only JSON is accepted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from celery import Celery

from ..jobs.queues import CELERY_DEFAULT_QUEUE
from ..settings import Settings, get_settings


def celery_config(settings: Settings) -> dict[str, Any]:
    config: dict[str, Any] = {
        "task_serializer": "json",
        "accept_content": ["json"],
        "result_serializer": "json",
        "task_ignore_result": True,
        "task_acks_late": False,
        "worker_prefetch_multiplier": 1,
        "task_default_queue": CELERY_DEFAULT_QUEUE,  # jobs are sent to their own queue (jobs/queues.py)
        "broker_connection_retry_on_startup": True,
        "worker_hijack_root_logger": False,
    }
    if settings.broker_url:
        config["broker_url"] = settings.broker_url
    else:
        folder = Path(settings.data_dir) / "broker"
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        config["broker_url"] = "filesystem://"
        config["broker_transport_options"] = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "control_folder": str(folder / "control"),  # else kombu writes ./control in the working directory
            "store_processed": False,
            "polling_interval": 0.2,
        }
    return config


def make_celery(settings: Settings | None = None) -> Celery:
    app = Celery("layerloom")
    app.conf.update(celery_config(settings or get_settings()))
    return app
