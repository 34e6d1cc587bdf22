"""The operator's view: queue depth by state, running jobs with their worker, and the workers.

Admins are the users named in ``LAYERLOOM_ADMIN_USERS`` (in local mode, the local user). Anyone else
gets a 404, as for any object that is not theirs. (Roles arrive with user management; until then
the setting is the list.)
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select

from ...jobs.lifecycle import RUNNING_STATES
from ...jobs.workers import worker_registry
from ...store.models import Job, JobState, User
from ..deps import CurrentUser, SessionDep, SettingsDep
from ..errors import NotFound, Unprocessable
from ..schemas import DatasetPublic, Name
from ..routing import make_router

router = make_router("admin", errors=(401, 404, 422))


def require_admin(user: CurrentUser, settings: SettingsDep) -> User:
    admins = {name.strip() for name in settings.admin_users.split(",") if name.strip()}
    local_admin = settings.auth_mode == "local" and user.name == settings.local_user_name
    if user.name not in admins and not local_admin:
        raise NotFound("Not found.")
    return user


Admin = Annotated[User, Depends(require_admin)]


class FolderRegistration(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(min_length=1, max_length=4096, description="A directory inside LAYERLOOM_DATA_ROOTS "
                                                                 "(absolute, or relative to the first root).")
    name: Name
    image_size: tuple[int, int] = (32, 32)
    color_mode: Literal["rgb", "grayscale"] = "rgb"


@router.post("/admin/datasets", status_code=201, response_model=DatasetPublic)
def register_dataset_folder(body: FolderRegistration, admin: Admin, session: SessionDep,
                            settings: SettingsDep) -> DatasetPublic:
    """Register a server folder of train|valid|test/<class>/<image> as a dataset every user can train on,
    read in place. A path outside the data roots (``..``, an absolute path elsewhere, a symbolic link
    leading out) or a bad layout is a 422 saying which."""
    from ...data import DatasetError
    from ...data.folders import data_roots
    from ...store.datasets import register_folder

    options = {"image_size": list(body.image_size), "color_mode": body.color_mode}
    try:
        row = register_folder(session, settings.data_dir, admin, body.path, body.name, options,
                              data_roots(settings.data_roots))
    except DatasetError as err:
        raise Unprocessable(err.problems[0]["message"] if len(err.problems) == 1 else
                            "The folder cannot be used as a dataset; see errors.", err.problems) from None
    return DatasetPublic.model_validate(row)


class QueueDepth(BaseModel):
    by_state: dict[str, int]


class RunningJob(BaseModel):
    id: str
    owner: str
    state: str
    worker_id: str | None
    attempt: int
    started_at: datetime | None
    lease_expires_at: datetime | None


class WorkerPublic(BaseModel):
    id: str
    name: str
    host: str
    pid: int
    devices: list[str]
    queues: list[str]
    current_job: str | None
    current_jobs: list[str]  # with --concurrency K, up to K
    concurrency: int
    alive: bool
    last_seen: datetime
    started_at: datetime


@router.get("/admin/queue", response_model=QueueDepth)
def queue_depth(_admin: Admin, session: SessionDep) -> QueueDepth:
    counts = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
    return QueueDepth(by_state={state.value: counts.get(state.value, 0) for state in JobState})


@router.get("/admin/jobs/running", response_model=list[RunningJob])
def running_jobs(_admin: Admin, session: SessionDep) -> list[RunningJob]:
    rows = session.execute(select(Job, User.name).join(User, Job.owner_id == User.id)
                           .where(Job.state.in_(RUNNING_STATES)).order_by(Job.started_at)).all()
    return [RunningJob(id=job.id, owner=owner, state=job.state, worker_id=job.worker_id, attempt=job.attempt,
                       started_at=job.started_at, lease_expires_at=job.lease_expires_at) for job, owner in rows]


@router.get("/admin/workers", response_model=list[WorkerPublic])
def workers(_admin: Admin, settings: SettingsDep) -> list[WorkerPublic]:
    records = sorted(worker_registry(settings).all(), key=lambda w: w.name)
    return [WorkerPublic(id=w.id, name=w.name, host=w.host, pid=w.pid, devices=w.devices, queues=w.queues,
                         current_job=w.job, current_jobs=w.jobs, concurrency=w.concurrency, alive=w.alive(), last_seen=datetime.fromtimestamp(w.last_seen).astimezone(),
                         started_at=datetime.fromtimestamp(w.started_at).astimezone()) for w in records]
