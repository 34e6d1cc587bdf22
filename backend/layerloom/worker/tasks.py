"""The worker's Celery app (``celery -A layerloom.worker.tasks worker``): the task, a shim over
``jobs.supervisor.run_job``, and the worker's background duties — a liveness heartbeat for
/api/health and the reaper — started when the worker is ready. Senders (the API) need none of
this: they send the task by name."""

from __future__ import annotations

import logging
import threading
import time
from functools import cache

from celery.signals import worker_ready, worker_shutdown
from sqlalchemy import select

from ..jobs import lifecycle, supervisor
from ..jobs.notify import publisher_for
from ..jobs.devices import DevicePool, slots_needed
from ..jobs.dispatch import TASK_NAME, CeleryDispatcher
from ..jobs.process import WarmRunner
from ..jobs.queues import job_queue
from ..jobs.workers import BEAT_SECONDS, WorkerRecord, worker_registry
from ..settings import get_settings
from ..store.models import Job
from ..store.db import make_engine, make_sessionmaker
from .celery_app import make_celery
from .options import WorkerOptions

log = logging.getLogger(__name__)
_stop = threading.Event()
app = make_celery()
_warm: WarmRunner | None = None  # the runner waiting for this worker's next job (settings.warm_runner)


@cache
def _sessions():
    settings = get_settings()
    return make_sessionmaker(make_engine(settings.database_url), publisher=publisher_for(settings))


@cache
def _dispatcher() -> CeleryDispatcher:
    return CeleryDispatcher(get_settings())


_options = WorkerOptions.from_settings(get_settings())  # resolved and checked by `layerloom worker`/`serve`
_me = WorkerRecord(id=supervisor.default_worker_id(), name=_options.name or supervisor.default_worker_id(),
                   devices=_options.devices, queues=_options.queues, concurrency=_options.concurrency)
_devices = DevicePool(_options.devices)
_jobs_lock = threading.Lock()


@app.task(name=TASK_NAME, ignore_result=True)
def run_job(job_id: str, token: str) -> str | None:
    needed = 1
    if _devices.devices:  # one device per rank
        with _sessions()() as session:
            needed = slots_needed(session.scalar(select(Job.config).where(Job.id == job_id)) or {})
    if reason := _devices.shortfall(needed):
        return supervisor.refuse(job_id, token, get_settings(), _sessions(), _me.id, reason)
    with _devices.take(needed) as devices:  # with concurrency K, up to K of these run at once
        with _jobs_lock:
            _me.jobs.append(job_id)
            _me.job = _me.jobs[0]
        try:
            return supervisor.run_job(job_id, token, get_settings(), _sessions(), _dispatcher(), worker_id=_me.id,
                                      devices=devices, warm=_warm)
        finally:
            with _jobs_lock:
                _me.jobs.remove(job_id)
                _me.job = _me.jobs[0] if _me.jobs else None


def reap_once(dead_workers: list[str] | None = None) -> int:
    settings = get_settings()
    with _sessions()() as session:
        reaped = lifecycle.reap(session, settings.lease_seconds, dead_workers or (),
                                lambda job_id: supervisor.retry_from(settings, job_id))
        configs = dict(session.execute(select(Job.id, Job.config).where(Job.id.in_([j for j, _ in reaped]))).all())
    to_dispatch = [(job_id, token, job_queue(configs.get(job_id) or {})) for job_id, token in reaped]
    for job_id, token, queue in to_dispatch:
        _dispatcher()(job_id, token, queue)
    return len(to_dispatch)


def _background() -> None:
    """Beat into the worker registry every couple of seconds (no database work); reap every
    heartbeat, or at once when a registered worker stopped beating."""
    settings = get_settings()
    registry = worker_registry(settings)
    next_reap, reaped_dead = 0.0, set()
    while not _stop.is_set():
        try:
            registry.beat(_me)
            dead = {r.id for r in registry.all() if not r.alive()}
            if time.monotonic() >= next_reap or dead - reaped_dead:
                reap_once(sorted(dead))
                reaped_dead = dead
                next_reap = time.monotonic() + min(settings.heartbeat_seconds, 5)
        except Exception:  # keep the duties alive through a transient database or Redis error
            log.exception("worker background duties failed; retrying")
        _stop.wait(BEAT_SECONDS)


@worker_ready.connect
def _start_background(**_kwargs) -> None:
    global _warm
    threading.Thread(target=_background, name="layerloom-reaper", daemon=True).start()
    # One warm runner, for a worker that runs one job at a time on the main thread (the solo pool):
    # the runner dies with the thread that started it, and it was started without a device slot.
    if get_settings().warm_runner and _options.concurrency <= 1 and not _options.devices:
        _warm = supervisor.make_warm_runner(get_settings())
        _warm.refill()


@worker_shutdown.connect
def _stop_background(**_kwargs) -> None:
    _stop.set()
    try:
        worker_registry(get_settings()).remove(_me.id)  # a clean stop is not a death
    except Exception:
        log.warning("could not remove this worker from the registry", exc_info=True)
    if _warm is not None:
        _warm.close()
