"""Migrations run exactly once however many processes start together (``docker compose up`` starts
the API and every worker at the same moment on an empty database): real processes, released at the
same instant, each calling ``migrate``; one migrates, the others wait on the lock and find nothing to do."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from layerloom.store import make_engine
from layerloom.store.db import LOCK_WAIT_MESSAGE

PROCESSES = 4

# Each process waits for a shared start time, then migrates; its log says what it did.
MIGRATE_AT = """
import logging, sys, time
logging.basicConfig(level=logging.INFO, format="%(message)s")
from layerloom.store.db import migrate
start_at = float(sys.argv[2])
time.sleep(max(0.0, start_at - time.time()))
print("CHANGED" if migrate(sys.argv[1]) else "UNCHANGED", flush=True)
"""


def migrate_together(url: str, count: int) -> list[subprocess.CompletedProcess[str]]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    start_at = time.time() + 3.0  # after every interpreter has imported alembic and SQLAlchemy
    procs = [subprocess.Popen([sys.executable, "-c", MIGRATE_AT, url, str(start_at)], env=env, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for _ in range(count)]
    results = []
    for proc in procs:
        out, _ = proc.communicate(timeout=60)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out))
    return results


def assert_migrated_once(url: str, results: list[subprocess.CompletedProcess[str]]) -> None:
    for result in results:
        assert result.returncode == 0, result.stdout
    verdicts = [result.stdout.strip().splitlines()[-1] for result in results]
    assert sorted(verdicts) == ["CHANGED"] + ["UNCHANGED"] * (len(results) - 1), verdicts
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            assert len(connection.execute(text("SELECT version_num FROM alembic_version")).all()) == 1
        assert "jobs" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_processes_starting_together_on_a_fresh_postgres_database_migrate_it_once(fresh_postgres_database) -> None:
    results = migrate_together(fresh_postgres_database, PROCESSES)
    assert_migrated_once(fresh_postgres_database, results)
    # The ones that had to wait said so (at least one did: they all started at the same instant).
    assert any(LOCK_WAIT_MESSAGE in result.stdout for result in results)


def test_processes_starting_together_on_a_fresh_sqlite_file_migrate_it_once(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'layerloom.db'}"
    assert_migrated_once(url, migrate_together(url, PROCESSES))
