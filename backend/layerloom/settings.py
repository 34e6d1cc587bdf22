"""All settings in one place, read from LAYERLOOM_* environment variables (pydantic-settings).

The embedded default (one machine, ``layerloom serve``) and a distributed deployment differ only in
values: leave ``database_url`` and ``broker_url`` empty for SQLite and kombu's filesystem transport
under ``data_dir``; set them to PostgreSQL and Redis URLs for many machines.

``auth_mode``: "local" (the default) serves one machine's single user without any login: a request
without an ``Authorization`` header acts as the user ``local_user_name``, created on first use; a
request that does send a bearer token is still checked, so tokens work in both modes. "token"
requires a login on every request: the editor's session cookie (users made with
``layerloom user create NAME``) or ``Authorization: Bearer <token>`` (made on the settings page or
with ``layerloom token create NAME``); use it whenever anyone else can reach the server.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .runner_settings import DEFAULT_DATA_MEMORY_BUDGET_MB

MB = 1024 * 1024
REPO_ROOT = Path(__file__).resolve().parents[2]
# SQLAlchemy's URL shape, dialect[+driver]://[user[:password]@]host[:port][/database][?query]. Read here
# without SQLAlchemy, which the runner and `layerloom check` (both read settings) should not import.
_DATABASE_URL = re.compile(r"(?P<backend>[A-Za-z]\w*)(?:\+\w+)?://(?:[^:/]*(?::[^@]*)?@)?[^/?]*"
                           r"(?:/(?P<database>[^?]*))?(?:\?.*)?", re.DOTALL)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAYERLOOM_", extra="ignore")

    # Limits on what one graph may ask for, checked before anything is allocated.
    max_params: int = Field(50_000_000, ge=1, description="Parameter budget of one model.")
    max_graph_nodes: int = Field(10_000, ge=1)
    max_graph_edges: int = Field(50_000, ge=1)
    max_tensor_elements: int = Field(50_000_000, ge=1, description="Largest per-sample activation a layer may produce.")
    max_block_depth: int = Field(16, ge=1, le=100, description="How deep blocks may call blocks; expanded nodes "
                                 "count against max_graph_nodes.")

    # Storage.
    data_dir: Path = Field(Path("./data"), description="Uploads, artifacts, the SQLite file and the embedded broker.")
    database_url: str = Field("", description="SQLAlchemy URL; empty means sqlite:///<data_dir>/layerloom.db.")
    broker_url: str = Field("", description="Celery broker URL; empty means kombu's filesystem transport under data_dir.")
    events_url: str = Field("", description="Redis URL for live event notifications; empty means the broker when "
                                            "it is Redis, else PostgreSQL LISTEN/NOTIFY, else loopback datagrams.")
    # Every file of a dataset or job (see layerloom/storage): empty means files under data_dir.
    storage_url: str = Field("", description="s3://bucket[/prefix] for S3-compatible object storage; empty "
                                             "means the local data_dir.")
    storage_endpoint_url: str = Field("", description="S3 endpoint, e.g. http://minio:9000; empty means AWS.")
    storage_region: str = Field("", description="S3 region; empty means boto3's default.")
    storage_access_key: str = Field("", description="S3 access key; empty means boto3's usual sources.")
    storage_secret_key: SecretStr = Field(SecretStr(""), description="S3 secret key.")
    storage_timeout_seconds: float = Field(10, gt=0, description="S3 connect and read timeout, so an outage fails "
                                                                 "fast instead of hanging a job.")
    storage_max_attempts: int = Field(3, ge=1, le=10, description="S3 tries per request (first try included).")
    storage_presign_downloads: bool = Field(False, description="Answer artifact downloads with a redirect to a "
                                                               "presigned S3 URL instead of streaming through the API.")
    storage_presign_seconds: int = Field(300, ge=1, le=7 * 24 * 3600)
    storage_cache_dir: Path = Field(Path(""), description="This machine's copies of stored objects; empty means "
                                                          "<data_dir>/cache.")

    # Where `layerloom serve` listens (the --host and --port options win over these).
    host: str = Field("127.0.0.1", description="Address to listen on; 0.0.0.0 in a container.")
    port: int = Field(8000, ge=1, le=65535)

    # The editor.
    frontend_dist: Path = Field(REPO_ROOT / "frontend" / "dist",
                                description="The built editor, served at / when the folder exists.")

    # Request limits, enforced while the body streams in.
    max_upload_bytes: int = Field(100 * MB, ge=1, description="Largest dataset file one upload may carry.")
    # Trained models kept loaded for predictions (least recently used go first).
    predict_cache_models: int = Field(8, ge=1, description="Most models kept loaded for predictions.")
    predict_cache_bytes: int = Field(1024 * MB, ge=1, description="Most bytes of weights kept loaded for predictions.")
    max_request_bytes: int = Field(20 * MB, ge=1024, description="Largest JSON request body (graph documents).")

    # Authentication (see the module docstring).
    auth_mode: Literal["local", "token"] = "local"
    local_user_name: str = Field("local", min_length=1, max_length=100)
    data_roots: str = Field("", description="Comma-separated directories an admin may register dataset folders "
                                            "from (train|valid|test/<class>/<image>); the runner checks reads "
                                            "against them too, so workers need the same setting.")
    data_memory_budget_mb: float = Field(
        DEFAULT_DATA_MEMORY_BUDGET_MB, gt=0,
        description="The runner streams a job's data (data_loading auto) when its decoded splits exceed this.")
    admin_users: str = Field("", description="Comma-separated user names that may use /api/admin (token mode); "
                                             "in local mode the local user is the admin.")
    session_days: float = Field(14, gt=0, le=366, description="How long a browser login (token mode) lasts.")
    # Failed logins allowed per user name, and per client address, within login_window_seconds
    # (counted in Redis when events_url or broker_url is Redis, so all API processes agree).
    login_max_failures_per_user: int = Field(5, ge=1)
    login_max_failures_per_address: int = Field(20, ge=1)
    login_window_seconds: int = Field(300, ge=1)

    # Per-user quotas (0 = no limit); an admin can override each for one user (PATCH /api/admin/users/{id}).
    quota_max_running_jobs: int = Field(0, ge=0, description="Jobs of one user running at once.")
    quota_running_policy: Literal["queue", "refuse"] = Field(
        "queue", description="A job over max_running_jobs waits in the queue ('queue') or is refused (429).")
    quota_max_queued_jobs: int = Field(0, ge=0, description="Jobs of one user waiting in the queue.")
    quota_max_stored_bytes: int = Field(0, ge=0, description="Bytes of one user's datasets and job artifacts.")
    quota_max_datasets: int = Field(0, ge=0, description="Uploaded datasets of one user.")
    quota_max_job_seconds: int = Field(0, ge=0, description="Wall time of one run of a job; past it, it fails.")

    # Host names this server answers to besides localhost, 127.0.0.1 and ::1 (DNS rebinding guard;
    # api/security.py). "*" turns the check off, e.g. behind a proxy that checks Host itself.
    allowed_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="Extra Host names to serve, comma-separated (ml.example.org,10.0.0.5).")

    # Job leases: a worker renews its lease every heartbeat; the reaper re-queues a job whose lease expired.
    lease_seconds: int = Field(60, ge=1)
    heartbeat_seconds: int = Field(10, ge=1)
    max_attempts: int = Field(3, ge=1, description="Runs of one job (first try plus re-queues) before it fails.")
    warm_runner: bool = Field(True, description="Each worker keeps a runner process started (torch imported) "
                                                "for its next job: about a second less to the first loss point.")

    # `layerloom worker` (its --name, --concurrency, --devices and --queues options win over these).
    worker_name: str = Field("", max_length=200, description="The worker's name in /api/admin/workers; "
                                                             "empty means host:pid.")
    worker_concurrency: int = Field(0, ge=0, le=256, description="Jobs run at once, each in its own runner; "
                                                                 "0 means one per device, or 1 without devices.")
    worker_devices: str = Field("", description="Comma-separated devices (cuda:0,cuda:1); each runner sees only "
                                                "its own through CUDA_VISIBLE_DEVICES. Empty: runners see the "
                                                "machine as it is.")
    worker_queues: str = Field("", description="Comma-separated job queues to take jobs from; empty means "
                                               "'default', plus 'gpu' when worker_devices names a CUDA device.")

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        return [h.strip() for h in value.split(",") if h.strip()] if isinstance(value, str) else value

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        # Resolved once, so the API, the worker child and the runner agree whatever their working directory.
        return value.expanduser().resolve()

    @field_validator("database_url")
    @classmethod
    def _psycopg_driver(cls, value: str) -> str:
        # A bare postgresql:// URL would make SQLAlchemy look for psycopg2; we ship psycopg 3.
        for prefix in ("postgres://", "postgresql://"):
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value.removeprefix(prefix)
        return value

    @model_validator(mode="after")
    def _check_combinations(self) -> Self:
        if not self.database_url:
            self.database_url = f"sqlite:///{self.data_dir / 'layerloom.db'}"
        url = _DATABASE_URL.fullmatch(self.database_url)
        if url is None:
            raise ValueError(f"LAYERLOOM_DATABASE_URL {self.database_url!r} is not a database URL.")
        backend = url["backend"]
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"LAYERLOOM_DATABASE_URL must be SQLite or PostgreSQL, got {backend!r}.")
        if backend == "sqlite" and url["database"] in (None, "", ":memory:"):
            raise ValueError("An in-memory SQLite database cannot be shared with the worker; give it a file path.")
        if self.storage_url:
            from .storage import parse_storage_url  # raises ValueError naming what is wrong

            parse_storage_url(self.storage_url)
        if self.storage_cache_dir == Path(""):
            self.storage_cache_dir = self.data_dir / "cache"
        if self.heartbeat_seconds * 2 > self.lease_seconds:
            raise ValueError(
                f"heartbeat_seconds ({self.heartbeat_seconds}) must be at most half of lease_seconds "
                f"({self.lease_seconds}), or one late heartbeat lets a healthy job's lease expire."
            )
        return self


@lru_cache
def get_settings() -> Settings:
    return Settings()
