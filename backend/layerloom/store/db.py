"""Engines, sessions and migrations for SQLite and PostgreSQL.

Sessions are synchronous and short: one per request (api/deps.py) or per unit of work in a worker,
committed explicitly. ``expire_on_commit=False`` keeps loaded rows readable after the commit, so a
route can commit and then build its response without another query.

SQLite runs in the sqlite3 driver's default transaction mode: a transaction starts at the first
write, so reads never hold a lock and writers wait up to ``BUSY_TIMEOUT_MS`` for each other. Write
concurrent updates as single conditional statements (``UPDATE … WHERE state = … RETURNING``), not as
read-then-write, and they behave the same on both databases.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

BUSY_TIMEOUT_MS = 10_000
REPO_ROOT = Path(__file__).resolve().parents[3]
ALEMBIC_INI = REPO_ROOT / "alembic.ini"

# NaN is not JSON and PostgreSQL refuses it; fail in Python, before the database, on either database.
_json_serializer = partial(json.dumps, allow_nan=False)


def make_engine(url: str, *, foreign_keys: bool = True, **kwargs: Any) -> Engine:
    """An engine for ``url``. On SQLite: WAL, a busy timeout and (unless ``foreign_keys=False``,
    which migrations need while they rebuild tables) enforced foreign keys on every connection."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True, json_serializer=_json_serializer, **kwargs)
    if parsed.database:
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    # check_same_thread=False: a request's session may move between the event loop and the threadpool.
    engine = create_engine(parsed, connect_args={"check_same_thread": False}, json_serializer=_json_serializer,
                           **kwargs)
    event.listen(engine, "connect", partial(_sqlite_pragmas, foreign_keys=foreign_keys))
    return engine


def _sqlite_pragmas(dbapi_connection: Any, _record: Any, *, foreign_keys: bool) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")  # readers and one writer work at the same time
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable with WAL up to the last checkpoint; much faster
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
    finally:
        cursor.close()


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str) -> Config:
    """Alembic's configuration for the repository's migrations, aimed at ``url``."""
    config = Config(str(ALEMBIC_INI))
    config.attributes["url"] = url
    config.attributes["configure_logging"] = False  # leave the host process's logging alone
    return config


def migrate(url: str, revision: str = "head") -> None:
    """Bring the database at ``url`` to ``revision`` (``alembic upgrade head``); safe to repeat."""
    command.upgrade(alembic_config(url), revision)
