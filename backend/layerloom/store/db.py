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

import fcntl
import logging
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

from .canonical import canonical_json

log = logging.getLogger("layerloom.migrate")

BUSY_TIMEOUT_MS = 10_000
REPO_ROOT = Path(__file__).resolve().parents[3]
ALEMBIC_INI = REPO_ROOT / "alembic.ini"

# Every JSON column goes through the one canonicalizer: NaN, infinities and NUL fail in Python,
# before the database, the same way on either database.
_json_serializer = canonical_json


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


def make_sessionmaker(engine: Engine, publisher: Any = None) -> sessionmaker[Session]:
    """Sessions on ``engine``; ``publisher`` (``jobs.notify.Publisher``) tells watchers of the job
    events these sessions commit."""
    return sessionmaker(engine, expire_on_commit=False, info={"layerloom.event_publisher": publisher})


def alembic_config(url: str) -> Config:
    """Alembic's configuration for the repository's migrations, aimed at ``url``."""
    config = Config(str(ALEMBIC_INI))
    config.attributes["url"] = url
    config.attributes["configure_logging"] = False  # leave the host process's logging alone
    return config


# One number for every Layerloom process on a PostgreSQL database: pg_advisory_lock takes a bigint.
MIGRATION_LOCK_KEY = zlib.crc32(b"layerloom.migrate")
LOCK_WAIT_MESSAGE = "waiting for another process to finish migrating the database"


def migrate(url: str, revision: str = "head") -> bool:
    """Bring the database at ``url`` to ``revision`` (``alembic upgrade head``); safe to repeat, and
    safe to start in many processes at once (``docker compose up``): the upgrade runs under a
    database-wide lock, so exactly one process migrates and the others wait, then find nothing to do.
    Returns True when this call changed the schema."""
    config = alembic_config(url)
    target = ScriptDirectory.from_config(config).get_revision(revision)
    engine = make_engine(url, poolclass=NullPool)
    try:
        with _migration_lock(engine):
            with engine.connect() as connection:
                current = MigrationContext.configure(connection).get_current_revision()
            if target is not None and current == target.revision:
                log.info("database schema is up to date (revision %s)", current)
                return False
            command.upgrade(config, revision)
            log.info("migrated the database schema from %s to %s", current or "an empty database", revision)
            return True
    finally:
        engine.dispose()


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    """PostgreSQL: a session advisory lock (released by the server even if this process dies).
    SQLite: an exclusive flock on a file next to the database (released by the kernel likewise)."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.commit()  # the lock belongs to the session, not to a transaction
            if not _try_advisory_lock(connection):
                log.warning("%s (PostgreSQL advisory lock %d)", LOCK_WAIT_MESSAGE, MIGRATION_LOCK_KEY)
                connection.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
            try:
                yield
            finally:
                connection.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK_KEY})
                connection.commit()
        return
    lock_path = Path(str(make_url(engine.url).database) + ".migrate-lock")
    with open(lock_path, "a") as lock_file:
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.warning("%s (lock file %s)", LOCK_WAIT_MESSAGE, lock_path)
            fcntl.flock(lock_file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock_file, fcntl.LOCK_UN)


def _try_advisory_lock(connection: Connection) -> bool:
    got = connection.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": MIGRATION_LOCK_KEY}).scalar()
    connection.commit()
    return bool(got)
