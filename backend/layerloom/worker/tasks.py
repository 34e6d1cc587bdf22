"""The worker's Celery app (``celery -A layerloom.worker.tasks worker``): the task, a shim over
``jobs.supervisor.run_job``, and the worker's background duties — a liveness heartbeat for
/api/health and the reaper — started when the worker is ready. Senders (the API) need none of
this: they send the task by name."""

from __future__ import annotations

import logging
import threading
from functools import cache

from celery.signals import worker_ready, worker_shutdown

from ..jobs import lifecycle, supervisor
from ..jobs.process import WarmRunner
from ..jobs.dispatch import TASK_NAME, CeleryDispatcher, write_worker_heartbeat
from ..settings import get_settings
from ..store.db import make_engine, make_sessionmaker
from .celery_app import make_celery

log = logging.getLogger(__name__)
_stop = threading.Event()
app = make_celery()
_warm: WarmRunner | None = None  # the runner waiting for this worker's next job (settings.warm_runner)


@cache
def _sessions():
    return make_sessionmaker(make_engine(get_settings().database_url))


@cache
def _dispatcher() -> CeleryDispatcher:
    return CeleryDispatcher(get_settings())


@app.task(name=TASK_NAME, ignore_result=True)
def run_job(job_id: str, token: str) -> str | None:
    return supervisor.run_job(job_id, token, get_settings(), _sessions(), _dispatcher(), warm=_warm)


def reap_once() -> int:
    settings = get_settings()
    with _sessions()() as session:
        to_dispatch = lifecycle.reap(session, settings.lease_seconds)
    for job_id, token in to_dispatch:
        _dispatcher()(job_id, token)
    return len(to_dispatch)


def _background() -> None:
    settings = get_settings()
    worker_id = supervisor.default_worker_id()
    while not _stop.is_set():
        try:
            write_worker_heartbeat(settings, worker_id)
            reap_once()
        except Exception:  # keep the duties alive through a transient database error
            log.exception("worker background duties failed; retrying")
        _stop.wait(min(settings.heartbeat_seconds, 5))


@worker_ready.connect
def _start_background(**_kwargs) -> None:
    global _warm
    threading.Thread(target=_background, name="layerloom-reaper", daemon=True).start()
    if get_settings().warm_runner:
        _warm = supervisor.make_warm_runner(get_settings())
        _warm.refill()


@worker_shutdown.connect
def _stop_background(**_kwargs) -> None:
    _stop.set()
    if _warm is not None:
        _warm.close()
