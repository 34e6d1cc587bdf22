"""Live events are pushed, not polled: a real ``layerloom serve --no-worker`` on its own fresh
PostgreSQL database, a hundred websocket watchers, and this test playing the worker (it appends
events to the log as the supervisor does, through the same publisher a worker uses).

What watchers cost the database is counted in statements: the API's own count (its /metrics, one
SQLAlchemy event per statement) plus the worker's. (PostgreSQL's ``pg_stat_database`` counters were
tried first, but an idle backend may hold its counts back for up to 10 s, which made short windows lie.)
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from sqlalchemy import event, select
from websockets.asyncio.client import connect

from layerloom.jobs import lifecycle
from layerloom.jobs.notify import publisher_for
from layerloom.settings import Settings
from layerloom.store import make_engine, make_sessionmaker, migrate
from layerloom.store.models import Job

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
WATCHERS = 100
EVENTS = 30
EVENTS_PER_SECOND = 10  # a busy training job's rate (step events every few steps)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Api:
    """``layerloom serve --no-worker`` as a process, configured only through the environment."""

    def __init__(self, tmp_path: Path, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url, self.ws_url = f"http://127.0.0.1:{self.port}", f"ws://127.0.0.1:{self.port}"
        self.log = open(tmp_path / "api.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "layerloom.cli", "serve", "--no-worker", "--port",
                                      str(self.port)], env={**os.environ, **env}, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.http = httpx.Client(base_url=self.url, timeout=30)
        deadline = time.monotonic() + 60
        while True:
            assert self.proc.poll() is None, (tmp_path / "api.log").read_text()
            try:
                if self.http.get("/api/health").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "the API did not start"
            time.sleep(0.2)

    def submit(self) -> str:
        graph = json.loads((EXAMPLES / "seed_mlp.json").read_text())
        response = self.http.post("/api/jobs", json={"graph": graph, "dataset": "random_classification"})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


class FakeWorker:
    """Claims a job and appends events as ``jobs/supervisor.py`` does, one commit each."""

    def __init__(self, settings: Settings) -> None:
        self.engine = make_engine(settings.database_url)
        self.statements = 0
        event.listen(self.engine, "before_cursor_execute", self._count)
        self.sessions = make_sessionmaker(self.engine, publisher=publisher_for(settings))

    def _count(self, *_args: Any) -> None:
        self.statements += 1

    def claim(self, job_id: str) -> None:
        with self.sessions() as session:
            token = session.scalar(select(Job.dispatch_token).where(Job.id == job_id))
            assert lifecycle.claim(session, job_id, token, "fake-worker", 60)
            lifecycle.append_event(session, job_id, "status", {"status": "running", "message": "Started."})
            session.commit()

    def publish(self, job_id: str, count: int, per_second: float) -> None:
        for i in range(count):
            started = time.monotonic()
            with self.sessions() as session:
                lifecycle.append_event(session, job_id, "step", {"step": i, "loss": 1.0 / (i + 1), "sent_at": time.time()})
                session.commit()
            time.sleep(max(0.0, 1.0 / per_second - (time.monotonic() - started)))


def metric(api: Api, name: str) -> float:
    for line in api.http.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} is not in /metrics")


class Watcher:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.delays: list[float] = []
        self.replayed = asyncio.Event()
        self.close_code: int | None = None

    async def watch(self, url: str, expected_events: int | None = None) -> None:
        async with connect(url, open_timeout=30, ping_interval=None, max_queue=None) as ws:
            try:
                async for raw in ws:
                    received = time.time()
                    message = json.loads(raw)
                    if message.get("type") == "state":
                        self.replayed.set()
                    elif "seq" in message:
                        self.events.append(message)
                        if "sent_at" in message:
                            self.delays.append(received - message["sent_at"])
            finally:
                self.close_code = ws.close_code


@pytest.fixture
def api_on_fresh_postgres(fresh_postgres_database: str, tmp_path: Path) -> Iterator[tuple[Api, FakeWorker, str]]:
    url = fresh_postgres_database
    migrate(url)
    env = {"LAYERLOOM_DATABASE_URL": url, "LAYERLOOM_DATA_DIR": str(tmp_path / "data"), "LAYERLOOM_AUTH_MODE": "local",
           "OMP_NUM_THREADS": "1"}
    api = Api(tmp_path, env)
    worker = FakeWorker(Settings(database_url=url, data_dir=tmp_path / "data"))
    try:
        yield api, worker
    finally:
        api.stop()
        worker.engine.dispose()


@pytest.mark.slow
def test_a_hundred_watchers_cost_the_database_almost_nothing_and_get_every_event_in_order(api_on_fresh_postgres) -> None:
    api, worker = api_on_fresh_postgres

    def statements() -> float:
        return metric(api, "layerloom_db_statements_total") + worker.statements
    job_id = api.submit()
    worker.claim(job_id)

    async def scenario() -> dict[str, Any]:
        # The baseline: the worker's own commits, nobody watching.
        before = statements()
        await asyncio.to_thread(worker.publish, job_id, EVENTS, EVENTS_PER_SECOND)
        baseline = statements() - before

        watchers = [Watcher() for _ in range(WATCHERS)]
        tasks = [asyncio.create_task(w.watch(f"{api.ws_url}/api/jobs/{job_id}/events?after=0")) for w in watchers]
        await asyncio.wait_for(asyncio.gather(*(w.replayed.wait() for w in watchers)), 30)
        before = statements()
        await asyncio.to_thread(worker.publish, job_id, EVENTS, EVENTS_PER_SECOND)
        expected = 2 + 2 * EVENTS  # queued, running, then both rounds of steps
        deadline = time.monotonic() + 10
        while any(len(w.events) < expected for w in watchers) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        watched = statements() - before

        # 50 sockets to a queued job, opened and closed: nothing keeps reading after them.
        queued_job = await asyncio.to_thread(api.submit)
        before = statements()
        await asyncio.sleep(6)
        idle_before = statements() - before
        for _ in range(50):
            async with connect(f"{api.ws_url}/api/jobs/{queued_job}/events", open_timeout=30) as ws:
                assert json.loads(await ws.recv())["seq"] == 1
        await asyncio.sleep(1)
        assert metric(api, "layerloom_websockets") == WATCHERS  # the 50 are gone, the 100 still here
        before = statements()
        await asyncio.sleep(6)
        idle_after = statements() - before

        # Stopping the API with a hundred open sockets: quick, and every socket hears 1001.
        started = time.monotonic()
        os.killpg(api.proc.pid, signal.SIGINT)
        assert await asyncio.to_thread(api.proc.wait, 10) == 0
        stop_seconds = time.monotonic() - started
        await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), 5)
        return dict(baseline=baseline, watched=watched, idle_before=idle_before, idle_after=idle_after,
                    stop_seconds=stop_seconds, watchers=watchers, expected=expected)

    result = asyncio.run(scenario())
    watchers = result["watchers"]
    for watcher in watchers:
        assert [e["seq"] for e in watcher.events] == list(range(1, result["expected"] + 1))
    delays = np.array([d for w in watchers for d in w.delays[EVENTS:]])  # the live ones, not the replay
    p99 = float(np.percentile(delays, 99))
    print(f"\nSQL statements: {result['baseline']} without watchers, {result['watched']} with {WATCHERS}; "
          f"idle {result['idle_before']} -> {result['idle_after']} after 50 sockets; "
          f"delay p50 {np.percentile(delays, 50) * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms; stop {result['stop_seconds']:.2f} s")
    assert result["watched"] <= 2 * result["baseline"]
    assert p99 < 0.2, "(on a loaded machine: compare with `uptime`)"
    # A poller left behind by the 50 sockets would add hundreds of statements in 6 s; a few more are
    # the reaper's and heartbeat's periodic ones shifting across the window on a loaded machine.
    assert result["idle_after"] <= result["idle_before"] + 4
    assert result["stop_seconds"] < 5
    assert {w.close_code for w in watchers} == {1001}


@pytest.mark.parametrize("channel", ["redis", "local"])
def test_events_reach_watchers_through_redis_or_loopback_hints_without_polling(channel: str, tmp_path: Path) -> None:
    """SQLite, so nothing comes through PostgreSQL: with ``LAYERLOOM_EVENTS_URL`` the worker publishes to
    Redis; without it (the embedded mode) it sends loopback hints. Either way every event arrives, in
    order, far sooner than the 5 s safety re-check would bring it."""
    url = f"sqlite:///{tmp_path / 'data' / 'layerloom.db'}"
    env = {"LAYERLOOM_DATABASE_URL": url, "LAYERLOOM_DATA_DIR": str(tmp_path / "data"), "LAYERLOOM_AUTH_MODE": "local"}
    if channel == "redis":
        env["LAYERLOOM_EVENTS_URL"] = "redis://127.0.0.1:6379/0"
    migrate(url)
    api = Api(tmp_path, env)
    worker = FakeWorker(Settings(database_url=url, data_dir=tmp_path / "data", events_url=env.get("LAYERLOOM_EVENTS_URL", "")))
    try:
        job_id = api.submit()
        worker.claim(job_id)

        async def scenario() -> list[Watcher]:
            watchers = [Watcher() for _ in range(10)]
            tasks = [asyncio.create_task(w.watch(f"{api.ws_url}/api/jobs/{job_id}/events")) for w in watchers]
            await asyncio.wait_for(asyncio.gather(*(w.replayed.wait() for w in watchers)), 30)
            await asyncio.to_thread(worker.publish, job_id, 20, 10)
            deadline = time.monotonic() + 10
            while any(len(w.events) < 22 for w in watchers) and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            for task in tasks:
                task.cancel()
            return watchers

        watchers = asyncio.run(scenario())
        for watcher in watchers:
            assert [e["seq"] for e in watcher.events] == list(range(1, 23))
        delays = [d for w in watchers for d in w.delays]
        assert max(delays) < 1.0, f"{channel}: slowest event took {max(delays):.2f} s (polled, not pushed?)"
    finally:
        api.stop()
        worker.engine.dispose()
