"""The database schema as SQLAlchemy 2 typed models: the source of truth for every object.

Conventions:
- Every entity has a string UUID ``id`` made in Python, so it is known before the row is committed
  (a dataset's directory, a job's dispatch) and is not guessable. Job events are keyed by
  ``(job_id, seq)`` instead: they are a per-job log, and that key is their uniqueness rule.
- Timestamps are timezone-aware UTC on both databases (``UTCDateTime``).
- JSON columns are JSONB on PostgreSQL, JSON text on SQLite; Python ``None`` is SQL NULL.
- Closed sets of values (kinds, states) are strings with a named CHECK constraint, not native enums,
  which would need their own DDL on PostgreSQL and a table rebuild on SQLite to extend.
- Every constraint and index is named by ``NAMING_CONVENTION`` so migrations can refer to it.

A new column or table needs a migration in ``migrations/versions``;
tests/integration/test_store.py fails while models and migrations differ.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from .kinds import UPLOAD_KINDS, DatasetKind  # noqa: F401  (re-exported: part of the schema's vocabulary)

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ID_LENGTH = 36
SHA256_LENGTH = 64


def new_id() -> str:
    return str(uuid.uuid4())


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on both databases. SQLite keeps no offset, so values are converted to
    UTC on the way in and marked UTC on the way out; lease comparisons then agree on both."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; use an aware one, e.g. layerloom.store.models.utcnow()")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JsonValue = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def one_of(column: str, values: Iterable[str]) -> CheckConstraint:
    """A CHECK constraint named after ``column`` allowing exactly ``values``."""
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)




class JobState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    CANCELLING = "cancelling"
    INTERRUPTED = "interrupted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


# Not finished yet: such a job still needs its dataset file.
ACTIVE_JOB_STATES = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING, JobState.INTERRUPTED})


class ArtifactKind(StrEnum):
    WEIGHTS_SAFETENSORS = "weights_safetensors"
    WEIGHTS_PT = "weights_pt"
    GRAPH = "graph"
    MANIFEST = "manifest"
    CHECKPOINT = "checkpoint"
    HISTORY = "history"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def id_column() -> Mapped[str]:
    return mapped_column(String(ID_LENGTH), primary_key=True, default=new_id)


def owner_column() -> Mapped[str]:
    return mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)


def created_column() -> Mapped[datetime]:
    return mapped_column(UTCDateTime(), default=utcnow)


class User(Base):
    """A person. ``password_hash`` (argon2id) is set for users who log in to the editor in token
    mode; a ``disabled_at`` user's sessions and tokens stop working. ``quotas`` holds an admin's
    per-user overrides of the quota settings (``{"max_running_jobs": 4}``); absent keys use the settings."""

    __tablename__ = "users"

    id: Mapped[str] = id_column()
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = created_column()
    password_hash: Mapped[str | None] = mapped_column(String(200))
    is_admin: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    quotas: Mapped[dict[str, Any] | None] = mapped_column(JsonValue)


class ApiToken(Base):
    """A bearer token. Only its sha256 is stored: a leaked database leaks no usable token."""

    __tablename__ = "api_tokens"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(SHA256_LENGTH), unique=True)
    created_at: Mapped[datetime] = created_column()
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    name: Mapped[str | None] = mapped_column(String(100))  # the user's label for it ("laptop", "CI")


class UserSession(Base):
    """A browser's login (the ``layerloom_session`` cookie). Like tokens, only the sha256 of the
    cookie's value is stored; logging out deletes the row."""

    __tablename__ = "user_sessions"

    id: Mapped[str] = id_column()
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(SHA256_LENGTH), unique=True)
    created_at: Mapped[datetime] = created_column()
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Graph(Base):
    """A named graph; its documents live in immutable, numbered ``GraphVersion`` rows.
    ``latest_version`` is the number of the newest one, incremented atomically (store/graphs.py)."""

    __tablename__ = "graphs"
    __table_args__ = (CheckConstraint("latest_version >= 0", name="latest_version"),)

    id: Mapped[str] = id_column()
    owner_id: Mapped[str] = owner_column()
    name: Mapped[str] = mapped_column(String(200))
    latest_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = created_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class GraphVersion(Base):
    """One saved document of a graph, numbered 1, 2, 3… per graph. Never updated once written."""

    __tablename__ = "graph_versions"
    __table_args__ = (
        UniqueConstraint("graph_id", "number"),
        CheckConstraint("number >= 1", name="number"),
    )

    id: Mapped[str] = id_column()
    graph_id: Mapped[str] = mapped_column(ForeignKey("graphs.id", ondelete="CASCADE"))  # indexed by the unique key
    number: Mapped[int] = mapped_column(Integer)
    document: Mapped[dict[str, Any]] = mapped_column(JsonValue)
    sha256: Mapped[str] = mapped_column(String(SHA256_LENGTH))
    created_at: Mapped[datetime] = created_column()


@event.listens_for(GraphVersion, "before_update")
def _graph_versions_are_immutable(mapper: Any, connection: Any, target: GraphVersion) -> None:
    raise ValueError(f"graph version {target.number} of graph {target.graph_id} is immutable; add a new version")


class Dataset(Base):
    """An uploaded dataset: the file under ``data_dir`` (``storage_path`` is relative to it), the
    options it was parsed with and the resulting description. Built-ins are not stored as rows."""

    __tablename__ = "datasets"
    __table_args__ = (one_of("kind", UPLOAD_KINDS),)

    id: Mapped[str] = id_column()
    owner_id: Mapped[str] = owner_column()
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    description: Mapped[dict[str, Any]] = mapped_column(JsonValue)
    storage_path: Mapped[str] = mapped_column(String(500))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(SHA256_LENGTH))
    options: Mapped[dict[str, Any]] = mapped_column(JsonValue)
    created_at: Mapped[datetime] = created_column()


class Job(Base):
    """A training run. ``graph`` is a snapshot of the document, so deleting the graph keeps the job
    reproducible. A claim compares ``dispatch_token``; ``lease_expires_at`` is renewed by heartbeats."""

    __tablename__ = "jobs"
    __table_args__ = (
        one_of("state", JobState),
        CheckConstraint("attempt >= 0", name="attempt"),
        CheckConstraint("max_attempts >= 1", name="max_attempts"),
        CheckConstraint("dataset_id IS NULL OR builtin_dataset IS NULL", name="one_dataset"),
        Index(None, "owner_id", "created_at"),
        Index(None, "state", "lease_expires_at"),
    )

    id: Mapped[str] = id_column()
    owner_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))  # indexed with created_at
    graph_version_id: Mapped[str | None] = mapped_column(
        ForeignKey("graph_versions.id", ondelete="SET NULL"), index=True)
    graph: Mapped[dict[str, Any]] = mapped_column(JsonValue)
    dataset_id: Mapped[str | None] = mapped_column(ForeignKey("datasets.id", ondelete="SET NULL"), index=True)
    builtin_dataset: Mapped[str | None] = mapped_column(String(100))
    mapping: Mapped[dict[str, Any]] = mapped_column(JsonValue)
    config: Mapped[dict[str, Any]] = mapped_column(JsonValue)
    state: Mapped[str] = mapped_column(String(16), default=JobState.QUEUED)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    worker_id: Mapped[str | None] = mapped_column(String(200))
    dispatch_token: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The seq of the job's latest event; incremented atomically by lifecycle.append_event.
    event_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = created_column()
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str | None] = mapped_column(Text)
    final_metrics: Mapped[dict[str, Any] | None] = mapped_column(JsonValue)
    # The best epoch by the monitored metric, computed from the epoch events when the job ends.
    best: Mapped[dict[str, Any] | None] = mapped_column(JsonValue)


class JobEvent(Base):
    """One entry of a job's append-only event log; ``seq`` rises by one per event of that job."""

    __tablename__ = "job_events"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    type: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JsonValue)
    created_at: Mapped[datetime] = created_column()


class Artifact(Base):
    """A file a job produced, under ``data_dir`` (``path`` is relative to it)."""

    __tablename__ = "artifacts"
    __table_args__ = (one_of("kind", ArtifactKind), UniqueConstraint("job_id", "path"))

    id: Mapped[str] = id_column()
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))  # indexed by the unique key
    kind: Mapped[str] = mapped_column(String(32))
    path: Mapped[str] = mapped_column(String(500))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(SHA256_LENGTH))
    created_at: Mapped[datetime] = created_column()
