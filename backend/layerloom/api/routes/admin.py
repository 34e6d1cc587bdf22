"""The operator's view: queue depth by state, running jobs with their worker, the workers, and
the users (list them, disable or enable them, override their quotas).

Admins are users with the admin role (``layerloom user create NAME --admin``), the users named in
``LAYERLOOM_ADMIN_USERS``, and in local mode the local user. Anyone else gets a 404, as for any
object that is not theirs.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ...jobs.lifecycle import RUNNING_STATES
from ...jobs.workers import worker_registry
from ...store.models import Job, JobState, User
from ...settings import Settings
from ...store.quotas import QUOTAS
from .. import auth
from ..deps import CurrentUser, SessionDep, SettingsDep
from ..errors import Conflict, NotFound, Unprocessable
from ..schemas import DatasetPublic, Name
from ..routing import make_router
from .account import QuotaPublic, is_admin, quota_list

router = make_router("admin", errors=(401, 404, 409, 422))


def require_admin(user: CurrentUser, settings: SettingsDep) -> User:
    if not is_admin(user, settings):
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


class UserPublic(BaseModel):
    id: str
    name: str
    is_admin: bool
    disabled: bool
    can_log_in: bool = Field(description="The user has a password (made with `layerloom user create`).")
    created_at: datetime
    quota_overrides: dict[str, int] = Field(description="This user's quotas that differ from the settings.")
    quotas: list[QuotaPublic]


QuotaValue = Annotated[int | None, Field(ge=0, le=2**62)]


class QuotaOverrides(BaseModel):
    """Per-user limits; null removes the override (the setting applies again); 0 means no limit."""

    max_running_jobs: QuotaValue = None
    max_queued_jobs: QuotaValue = None
    max_stored_bytes: QuotaValue = None
    max_datasets: QuotaValue = None
    max_job_seconds: QuotaValue = None


assert set(QuotaOverrides.model_fields) == set(QUOTAS)


class UserUpdate(BaseModel):
    disabled: bool | None = Field(None, description="true: the user's sessions and tokens stop working at once.")
    quotas: QuotaOverrides | None = Field(None, description="Only the quotas given are changed.")


def _user_public(session: Session, settings: Settings, user: User) -> UserPublic:
    return UserPublic(id=user.id, name=user.name, is_admin=is_admin(user, settings),
                      disabled=user.disabled_at is not None, can_log_in=user.password_hash is not None,
                      created_at=user.created_at, quota_overrides=dict(user.quotas or {}),
                      quotas=quota_list(session, settings, user))


@router.get("/admin/users", response_model=list[UserPublic])
def list_users(_admin: Admin, session: SessionDep, settings: SettingsDep) -> list[UserPublic]:
    """Every user, by name, with role, state and quotas (limit and use)."""
    return [_user_public(session, settings, u) for u in session.scalars(select(User).order_by(User.name)).all()]


@router.patch("/admin/users/{user_id}", response_model=UserPublic)
def update_user(user_id: Annotated[str, Path(max_length=100)], body: UserUpdate, admin: Admin,
                session: SessionDep, settings: SettingsDep) -> UserPublic:
    """Disable or enable a user, and set or clear their quota overrides."""
    user = session.get(User, user_id)
    if user is None:
        raise NotFound(f"There is no user {user_id!r}.")
    if body.disabled and user.id == admin.id:
        raise Conflict("You cannot disable yourself; ask another admin, or use `layerloom user disable`.")
    if body.quotas is not None:
        overrides = dict(user.quotas or {})
        for name in body.quotas.model_fields_set:
            value = getattr(body.quotas, name)
            if value is None:
                overrides.pop(name, None)
            else:
                overrides[name] = value
        user.quotas = overrides or None
        session.commit()
    if body.disabled is not None:
        auth.set_disabled(session, user, body.disabled)
    session.refresh(user)
    return _user_public(session, settings, user)
