"""Per-user quotas: the limits (settings, overridden per user by an admin in ``users.quotas``) and
the current use, computed from the database, for the API (refusals, ``GET /api/me``) and the
worker (the running-jobs limit at claim time, the wall-time limit while a job runs).

A limit of 0 means no limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..settings import Settings
from .models import Artifact, Dataset, Job, JobState, User

# name -> (what it limits, in words; the unit of its value)
QUOTAS: dict[str, tuple[str, str]] = {
    "max_running_jobs": ("jobs running at once", "jobs"),
    "max_queued_jobs": ("jobs waiting in the queue", "jobs"),
    "max_stored_bytes": ("stored bytes (datasets and job artifacts)", "bytes"),
    "max_datasets": ("uploaded datasets", "datasets"),
    "max_job_seconds": ("wall time of one job run", "seconds"),
}
RUNNING = (JobState.RUNNING, JobState.CANCELLING)


def limits(settings: Settings, user: User) -> dict[str, int]:
    """The user's limit for each quota: the admin's override, else the setting."""
    overrides = user.quotas or {}
    return {name: int(overrides.get(name, getattr(settings, f"quota_{name}"))) for name in QUOTAS}


@dataclass(frozen=True)
class Usage:
    running_jobs: int
    queued_jobs: int
    stored_bytes: int
    datasets: int

    def of(self, quota: str) -> int | None:
        """The use that ``quota`` limits (None for the per-job wall time)."""
        return {"max_running_jobs": self.running_jobs, "max_queued_jobs": self.queued_jobs,
                "max_stored_bytes": self.stored_bytes, "max_datasets": self.datasets}.get(quota)


def usage(session: Session, user_id: str) -> Usage:
    states = dict(session.execute(select(Job.state, func.count()).where(Job.owner_id == user_id)
                                  .group_by(Job.state)).all())
    dataset_count, dataset_bytes = session.execute(
        select(func.count(), func.coalesce(func.sum(Dataset.size_bytes), 0)).where(Dataset.owner_id == user_id)).one()
    artifact_bytes = session.scalar(select(func.coalesce(func.sum(Artifact.size_bytes), 0))
                                    .join(Job, Artifact.job_id == Job.id).where(Job.owner_id == user_id)) or 0
    return Usage(running_jobs=sum(states.get(s.value, 0) for s in RUNNING),
                 queued_jobs=states.get(JobState.QUEUED.value, 0),
                 stored_bytes=int(dataset_bytes) + int(artifact_bytes), datasets=int(dataset_count))


def describe(name: str, limit: int, used: int | None = None) -> str:
    """``"the quota max_running_jobs (jobs running at once) is 2; 2 in use"``."""
    what, unit = QUOTAS[name]
    text = f"the quota {name} ({what}) is {limit} {unit}"
    return text + (f"; {used} in use" if used is not None else "")


def running_wait_message(limit: int) -> str:
    return (f"Waits for the quota max_running_jobs: {limit} of your jobs are running, the most "
            f"allowed at once; it starts when one of them ends.")
