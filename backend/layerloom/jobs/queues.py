"""Which queue a job goes to, and what a worker takes from.

A job names its queue (``config.queue``), or asks for a GPU (``config.device: "cuda"`` or
``"cuda:N"``), which routes it to the ``gpu`` queue; anything else goes to ``default``. A worker
listens on the queues it is given (``--queues``); without them, on ``default``, plus ``gpu`` when
its ``--devices`` name a CUDA device. ``layerloom serve``'s embedded worker listens on both, so a
single machine runs every job as before.

Each queue is a Celery queue: ``default`` keeps the name ``layerloom`` (messages already queued
before queues existed are still delivered); another queue ``q`` is ``layerloom.q``.
"""

from __future__ import annotations

import re
from typing import Any

DEFAULT_QUEUE = "default"
GPU_QUEUE = "gpu"
EMBEDDED_QUEUES = (DEFAULT_QUEUE, GPU_QUEUE)
QUEUE_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,39}$"
CELERY_DEFAULT_QUEUE = "layerloom"


def job_queue(config: dict[str, Any]) -> str:
    """The queue a job with this (validated) training config is sent to."""
    if config.get("queue"):
        return str(config["queue"])
    if str(config.get("device") or "").startswith("cuda"):
        return GPU_QUEUE
    return DEFAULT_QUEUE


def celery_queue(queue: str) -> str:
    return CELERY_DEFAULT_QUEUE if queue == DEFAULT_QUEUE else f"{CELERY_DEFAULT_QUEUE}.{queue}"


def parse_queues(text: str) -> list[str]:
    """``"gpu, cpu"`` -> ``["gpu", "cpu"]``; a bad name is a ValueError saying what a name may be."""
    queues = list(dict.fromkeys(q.strip() for q in text.split(",") if q.strip()))
    bad = [q for q in queues if not re.match(QUEUE_PATTERN, q)]
    if bad:
        raise ValueError(f"queue name(s) {', '.join(map(repr, bad))}: use lowercase letters, digits, '-' and '_' "
                         "(up to 40 characters, starting with a letter or digit)")
    return queues
