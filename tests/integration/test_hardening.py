"""Regression tests for the holes an attack and a chaos test found (issue 13), each reproducing
the original failure, on SQLite and PostgreSQL where the fixtures parametrize."""

from __future__ import annotations

import copy
import json
import os
import sys
import threading
import time
from datetime import datetime, timedelta
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import delete, func, select

from layerloom.api.auth import get_or_create_user
from layerloom.jobs import lifecycle
from layerloom.jobs.supervisor import job_dir, run_job
from layerloom.store import make_engine, make_sessionmaker
from layerloom.store.models import Job, JobEvent, JobState, utcnow

SEED = json.loads((Path(__file__).parents[2] / "examples" / "seed_mlp.json").read_text())


def codes(response) -> set[str]:
    return {e["code"] for e in response.json()["errors"]}


def job_count(app: FastAPI) -> int:
    with app.state.sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


@pytest.fixture
def dispatched(app: FastAPI) -> list[tuple[str, str]]:
    """Record dispatches instead of sending them (no worker runs in these tests)."""
    sent: list[tuple[str, str]] = []
    app.state.dispatch = lambda job_id, token: sent.append((job_id, token))
    return sent


def submit(client, graph: dict[str, Any] | None = None, **body: Any):
    return client.post("/api/jobs", json={"graph": graph or SEED, "dataset": "random_classification", **body})


# ---- 3: identifiers are matched as whole strings ------------------------------------------


def test_a_node_id_with_a_trailing_newline_is_a_bad_id(app, client_a, dispatched) -> None:
    graph = copy.deepcopy(SEED)
    graph["nodes"][1]["id"] = "d1\n"
    for edge in graph["edges"]:
        for end in ("source", "target"):
            if edge[end] == "d1":
                edge[end] = "d1\n"
    checked = client_a.post("/api/graphs/validate", json=graph).json()
    assert not checked["ok"] and {"bad_id"} == {e["code"] for e in checked["errors"] if e.get("node") == "d1\n"}
    response = submit(client_a, graph)
    assert response.status_code == 422 and "bad_id" in codes(response)
    assert job_count(app) == 0 and dispatched == []


# ---- 2: event numbers under concurrent writers ---------------------------------------------

# A stand-in for the training process (no torch, starts in milliseconds): prints an event every
# 200 ms until SIGTERM, then says it was cancelled and exits like the real runner does.
CHATTY_RUNNER = """
import json, os, signal, sys, time
open(os.path.join(sys.argv[1], "runner.env.json"), "w").write(json.dumps(dict(os.environ)))
open(os.path.join(sys.argv[1], "runner.pid"), "w").write(str(os.getpid()))
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
i = 0
while not stop:
    i += 1
    print(json.dumps({"type": "log", "message": f"step {i}"}), flush=True)
    time.sleep(0.2)
print(json.dumps({"type": "status", "status": "cancelled", "message": "Cancelled."}), flush=True)
sys.exit(3)
"""


def chatty_runner(directory: Path) -> list[str]:
    return [sys.executable, "-c", CHATTY_RUNNER, str(directory)]


def make_jobs(app: FastAPI, user: str, count: int) -> list[tuple[str, str]]:
    with app.state.sessionmaker() as session:
        owner = get_or_create_user(session, user)
        jobs = []
        for _ in range(count):
            job = Job(owner_id=owner.id, graph=SEED, builtin_dataset="digits", mapping={}, config={},
                      state=JobState.QUEUED, attempt=0, max_attempts=1)
            session.add(job)
            session.flush()
            lifecycle.append_event(session, job.id, "status", {"status": "queued"})
            jobs.append((job.id, lifecycle.new_dispatch(session, job.id, 60)))
        session.commit()
    return jobs


def test_concurrent_writers_never_take_the_same_seq(app: FastAPI) -> None:
    """The original failure: the API's cancel and the worker's relay appended at the same moment
    and both took max(seq) + 1 (IntegrityError). Eight threads append to one job at once."""
    [(job_id, _)] = make_jobs(app, "alice", 1)
    errors: list[BaseException] = []

    def append_many(writer: int) -> None:
        for i in range(25):
            try:
                with app.state.sessionmaker() as session:
                    lifecycle.append_event(session, job_id, "log", {"writer": writer, "i": i})
                    session.commit()
            except BaseException as err:  # noqa: BLE001 - every failure is the finding
                errors.append(err)

    threads = [threading.Thread(target=append_many, args=(w,)) for w in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.state.sessionmaker() as session:
        seqs = session.scalars(select(JobEvent.seq).where(JobEvent.job_id == job_id).order_by(JobEvent.seq)).all()
    assert seqs == list(range(1, 1 + 1 + 8 * 25))


@pytest.mark.slow
def test_a_cancel_storm_on_fifty_running_jobs_ends_them_all_cancelled(app: FastAPI, client_a, migrated_url) -> None:
    jobs = make_jobs(app, "alice", 50)
    settings = app.state.settings
    results: dict[str, Any] = {}
    # The fifty supervisors share this process (in production each worker has its own engine):
    # enough connections that none waits for the pool rather than for the database.
    engine = make_engine(migrated_url, pool_size=5, max_overflow=35, pool_timeout=60)
    sessions = make_sessionmaker(engine)

    def supervise(job_id: str, token: str) -> None:
        try:
            results[job_id] = run_job(job_id, token, settings, sessions, lambda *_: None,
                                      worker_id="storm", runner=chatty_runner)
        except BaseException as err:  # noqa: BLE001
            results[job_id] = err

    workers = [threading.Thread(target=supervise, args=job) for job in jobs]
    for t in workers:
        t.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # every runner is relaying events
        with app.state.sessionmaker() as session:
            relaying = session.scalar(select(func.count(func.distinct(JobEvent.job_id))).where(JobEvent.type == "log"))
        if relaying == len(jobs):
            break
        time.sleep(0.2)
    assert relaying == len(jobs)

    cancelled_at: dict[str, datetime] = {}

    def cancel(job_id: str) -> int:
        cancelled_at[job_id] = utcnow()
        return client_a.post(f"/api/jobs/{job_id}/cancel").status_code

    with ThreadPoolExecutor(10) as pool:
        answers = list(pool.map(cancel, [job_id for job_id, _ in jobs]))
    assert answers == [200] * len(jobs)
    for t in workers:
        t.join(timeout=30)
    assert not [t for t in workers if t.is_alive()]
    assert results == {job_id: "cancelled" for job_id, _ in jobs}  # no IntegrityError, no crash
    with app.state.sessionmaker() as session:
        ended = {job.id: job for job in session.scalars(select(Job).where(Job.id.in_([j for j, _ in jobs])))}
        assert {job.state for job in ended.values()} == {JobState.CANCELLED}
        slowest = max(ended[job_id].finished_at - cancelled_at[job_id] for job_id in ended)
        assert slowest < timedelta(seconds=5), f"a job took {slowest} from its cancel to cancelled"
        for job_id, _ in jobs:
            seqs = session.scalars(select(JobEvent.seq).where(JobEvent.job_id == job_id).order_by(JobEvent.seq)).all()
            assert seqs == list(range(1, len(seqs) + 1))
    engine.dispose()


def test_the_runner_is_stopped_when_its_events_cannot_be_relayed(app: FastAPI) -> None:
    """The job's row vanishes mid-run (its events can no longer be numbered or stored): the
    supervisor must stop the runner instead of letting it train unobserved."""
    [(job_id, token)] = make_jobs(app, "alice", 1)
    failure: list[BaseException] = []

    def supervise() -> None:
        try:
            run_job(job_id, token, app.state.settings, app.state.sessionmaker, lambda *_: None, runner=chatty_runner)
        except BaseException as err:  # noqa: BLE001
            failure.append(err)

    worker = threading.Thread(target=supervise)
    worker.start()
    pid_file = job_dir(app.state.settings.data_dir, job_id) / "runner.pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    pid = int(pid_file.read_text())
    with app.state.sessionmaker() as session:
        session.execute(delete(Job).where(Job.id == job_id))
        session.commit()
    worker.join(timeout=10)
    assert not worker.is_alive() and failure, "the supervisor kept relaying into nothing"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# ---- 7: the runner does not inherit the worker's secrets -----------------------------------


def test_the_runner_gets_an_allow_listed_environment(app: FastAPI, client_a, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAYERLOOM_DATABASE_URL", "postgresql://user:secret@db/layerloom")
    monkeypatch.setenv("LAYERLOOM_BROKER_URL", "redis://:secret@broker")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("LC_ALL", "C.UTF-8")
    [(job_id, token)] = make_jobs(app, "alice", 1)
    directory = job_dir(app.state.settings.data_dir, job_id)
    worker = threading.Thread(target=run_job, args=(job_id, token, app.state.settings, app.state.sessionmaker,
                                                    lambda *_: None), kwargs={"runner": chatty_runner})
    worker.start()
    deadline = time.monotonic() + 30
    while not (directory / "runner.pid").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    env = json.loads((directory / "runner.env.json").read_text())
    client_a.post(f"/api/jobs/{job_id}/cancel")
    worker.join(timeout=10)
    assert "secret" not in json.dumps(env)
    assert not {"LAYERLOOM_DATABASE_URL", "LAYERLOOM_BROKER_URL", "AWS_SECRET_ACCESS_KEY"} & set(env)
    assert env["PATH"] == os.environ["PATH"] and env["LC_ALL"] == "C.UTF-8"
    assert env["LAYERLOOM_MAX_PARAMS"] == str(app.state.settings.max_params)  # same limits as the API
