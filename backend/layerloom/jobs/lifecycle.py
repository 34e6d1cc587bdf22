"""Job state transitions, each one conditional UPDATE so that concurrent workers, duplicate
deliveries and the reaper can never both win.

    queued ──claim(token)──▶ running ──finish──▶ succeeded | failed | cancelled
       ▲                       │ cancel requested ─▶ cancelling ─▶ cancelled
       └──── reap: lease expired (attempt < max) ◀─┘   (attempt = max ─▶ failed)

The *dispatch token* fences every transition: a job is claimed only with the token of its latest
dispatch, and a worker whose job was re-queued (new token) can no longer renew or finish it. For a
queued job, ``lease_expires_at`` is the time by which a worker must claim it; the reaper
re-dispatches it after that.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from ..store.models import Job, JobEvent, JobState, User, new_id, utcnow
from . import notify
from .best_epoch import best_epoch

log = logging.getLogger(__name__)

RUNNING_STATES = (JobState.RUNNING, JobState.CANCELLING)
TERMINAL_STATES = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


def new_dispatch(session: Session, job_id: str, claim_within_seconds: int) -> str:
    """Give a queued job a fresh dispatch token (the old one stops being claimable)."""
    token = new_id()
    session.execute(update(Job).where(Job.id == job_id, Job.state == JobState.QUEUED).values(
        dispatch_token=token, lease_expires_at=utcnow() + timedelta(seconds=claim_within_seconds)))
    return token


def claim(session: Session, job_id: str, token: str, worker_id: str, lease_seconds: int,
          max_running: int = 0) -> bool:
    """Take a queued job for this worker. False for a stale or duplicate delivery, or when the
    owner already has ``max_running`` jobs running (0: no limit; see ``wait_for_quota``)."""
    now = utcnow()
    conditions = [Job.id == job_id, Job.dispatch_token == token, Job.state == JobState.QUEUED]
    if max_running:
        owner_id = session.scalar(select(Job.owner_id).where(Job.id == job_id))
        # Lock the owner's row, so two workers claiming that owner's jobs at once count one after
        # the other (PostgreSQL; SQLite serialises writers anyway).
        session.execute(select(User.id).where(User.id == owner_id).with_for_update())
        running = select(func.count()).select_from(Job).where(Job.owner_id == owner_id, Job.state.in_(RUNNING_STATES))
        conditions.append(running.scalar_subquery() < max_running)
    result = session.execute(
        update(Job)
        .where(*conditions)
        .values(state=JobState.RUNNING, worker_id=worker_id, attempt=Job.attempt + 1,
                lease_expires_at=now + timedelta(seconds=lease_seconds),
                started_at=func.coalesce(Job.started_at, now))
    )
    session.commit()
    return result.rowcount == 1


def wait_for_quota(session: Session, job_id: str, token: str, message: str, recheck_seconds: int) -> bool:
    """A delivery the owner's running-jobs quota did not let start: the job stays queued, says why
    once, and the reaper dispatches it again after ``recheck_seconds``. False if the delivery was stale."""
    result = session.execute(update(Job).where(Job.id == job_id, Job.dispatch_token == token,
                                               Job.state == JobState.QUEUED)
                             .values(lease_expires_at=utcnow() + timedelta(seconds=recheck_seconds)))
    if result.rowcount != 1:
        session.rollback()
        return False
    last = session.scalar(select(JobEvent.payload).where(JobEvent.job_id == job_id, JobEvent.type == "status")
                          .order_by(JobEvent.seq.desc()).limit(1))
    if not last or last.get("message") != message:
        append_event(session, job_id, "status", {"status": "queued", "message": message})
    session.commit()
    return True


@dataclass(frozen=True)
class LeaseStatus:
    held: bool  # False: the job was re-queued or finished by someone else; stop working on it
    cancel_requested: bool


def renew_lease(session: Session, job_id: str, token: str, lease_seconds: int) -> LeaseStatus:
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.dispatch_token == token, Job.state.in_(RUNNING_STATES))
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
        .returning(Job.cancel_requested)
    ).first()
    session.commit()
    return LeaseStatus(held=result is not None, cancel_requested=bool(result and result[0]))


def cancel_requested(session: Session, job_id: str) -> bool:
    return bool(session.scalar(select(Job.cancel_requested).where(Job.id == job_id)))


def finish(session: Session, job_id: str, token: str, state: JobState, *, error: str | None = None,
           final_metrics: dict[str, Any] | None = None) -> bool:
    config = session.scalar(select(Job.config).where(Job.id == job_id)) or {}
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.dispatch_token == token, Job.state.in_(RUNNING_STATES))
        .values(state=state, error=error, final_metrics=final_metrics, finished_at=utcnow(),
                lease_expires_at=None, best=best_epoch(config, epoch_rows(session, job_id)))
    )
    session.commit()
    return result.rowcount == 1


def epoch_rows(session: Session, job_id: str) -> list[dict[str, Any]]:
    """The job's per-epoch metrics, one row per epoch in order ({"epoch": n, **metrics}); a retried
    epoch's last report wins."""
    payloads = session.scalars(select(JobEvent.payload).where(JobEvent.job_id == job_id, JobEvent.type == "epoch")
                               .order_by(JobEvent.seq)).all()
    by_epoch = {int(p["epoch"]): {"epoch": int(p["epoch"]), **(p.get("metrics") or {})} for p in payloads}
    return [by_epoch[e] for e in sorted(by_epoch)]


def requeue(session: Session, job_id: str, token: str, reason: str, claim_within_seconds: int,
            retry_from: str = "from the last checkpoint") -> str | None:
    """Put a running job whose runner was lost back in the queue, or fail it when it has used all its
    attempts. ``retry_from`` says where the next attempt starts ("from the checkpoint of epoch 3").
    Returns the new dispatch token, or None when nothing is to be dispatched."""
    job = session.get(Job, job_id, populate_existing=True)
    if job is None or job.dispatch_token != token or job.state not in RUNNING_STATES:
        return None
    if job.state == JobState.CANCELLING or job.cancel_requested:
        finish(session, job_id, token, JobState.CANCELLED)
        append_event(session, job_id, "status", {"status": "cancelled", "message": "Cancelled."})
        session.commit()
        return None
    if job.attempt >= job.max_attempts:
        message = f"{reason} Giving up after {job.attempt} attempt(s)."
        finish(session, job_id, token, JobState.FAILED, error=message)
        append_event(session, job_id, "status", {"status": "failed", "message": message})
        session.commit()
        return None
    new_token = new_id()
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.dispatch_token == token, Job.state.in_(RUNNING_STATES))
        .values(state=JobState.QUEUED, dispatch_token=new_token, worker_id=None,
                lease_expires_at=utcnow() + timedelta(seconds=claim_within_seconds))
    )
    if result.rowcount == 1:
        append_event(session, job_id, "status", {
            "status": "interrupted",
            "message": f"{reason} Retrying {retry_from} (attempt {job.attempt + 1} of {job.max_attempts}).",
        })
    session.commit()
    return new_token if result.rowcount == 1 else None


def reap(session: Session, claim_within_seconds: int, dead_workers: Collection[str] = (),
         retry_from: Callable[[str], str] = lambda _job_id: "from the last checkpoint") -> list[tuple[str, str]]:
    """Re-queue running jobs whose lease expired, or whose worker is known dead (``dead_workers``: its
    liveness beats stopped, so there is no need to wait for the lease), and re-dispatch queued jobs
    nobody claimed in time. Returns the (job id, token) pairs to dispatch, after this function has committed."""
    now = utcnow()
    to_dispatch = []
    lost = Job.lease_expires_at < now
    if dead_workers:
        lost = lost | Job.worker_id.in_(list(dead_workers))
    expired = session.execute(select(Job.id, Job.dispatch_token).where(Job.state.in_(RUNNING_STATES), lost)).all()
    for job_id, token in expired:
        new_token = requeue(session, job_id, token, "The worker running this job stopped answering.",
                            claim_within_seconds, retry_from(job_id))
        if new_token:
            to_dispatch.append((job_id, new_token))
    unclaimed = session.scalars(
        select(Job.id).where(Job.state == JobState.QUEUED, Job.lease_expires_at < now)
    ).all()
    for job_id in unclaimed:
        to_dispatch.append((job_id, new_dispatch(session, job_id, claim_within_seconds)))
    session.commit()
    return to_dispatch


def append_event(session: Session, job_id: str, type_: str, payload: dict[str, Any]) -> int:
    """Append to the job's event log with the next seq (the caller commits).

    The number comes from the job's own counter, incremented by one ``UPDATE … RETURNING``: the
    row stays locked until the caller commits, so concurrent writers (the API's cancel, the
    worker's relay, the reaper) wait for each other instead of taking the same number."""
    seq = session.execute(
        update(Job).where(Job.id == job_id).values(event_seq=Job.event_seq + 1).returning(Job.event_seq)
    ).scalar_one()
    session.add(JobEvent(job_id=job_id, seq=seq, type=type_, payload=payload))
    session.flush()
    notify.notify_after_commit(session, job_id, seq, type_, payload)  # watchers hear of it once committed
    return seq


# Pauses before retrying a batch of relayed events the database refused for now (seconds).
RELAY_RETRY_PAUSES = (1.0, 2.0, 4.0)


def append_events_retrying(session: Session, job_id: str, events: Sequence[tuple[str, dict[str, Any]]],
                           pauses: Sequence[float] = RELAY_RETRY_PAUSES) -> None:
    """Append ``(type, payload)`` events and commit them together, retrying the whole batch after a
    transient refusal (SQLite locked past its busy timeout by many writers, a dropped connection):
    a moment of contention must not end a training job's relay. The batch is rolled back before
    each retry (its numbers and notifications with it), so nothing is logged twice. Raises the
    last OperationalError when every try failed."""
    for attempt, pause in enumerate([*pauses, None]):
        try:
            for type_, payload in events:
                append_event(session, job_id, type_, payload)
            session.commit()
            return
        except OperationalError as exc:
            session.rollback()
            if pause is None:
                raise
            log.warning("job %s: could not log %d event(s) (try %d: %s); retrying in %.1f s",
                        job_id, len(events), attempt + 1, str(exc.orig).strip() or type(exc.orig).__name__, pause)
            time.sleep(pause)


def last_logged_epoch(session: Session, job_id: str) -> int:
    """The highest epoch with an epoch event in the log (0 when none)."""
    events = session.scalars(select(JobEvent.payload).where(JobEvent.job_id == job_id, JobEvent.type == "epoch")).all()
    return max((int(p.get("epoch", 0)) for p in events), default=0)
