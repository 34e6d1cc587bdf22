"""The operator's view on SQLite and PostgreSQL: admin endpoints (404 for anyone not an admin),
Prometheus /metrics, health "degraded" when a registered worker stopped answering, the worker in the
job API, and the reaper re-queueing a dead worker's job before its lease ends, saying from where."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from sqlalchemy import select

from layerloom.jobs import lifecycle, supervisor
from layerloom.jobs.workers import DEAD_SECONDS, FileWorkers, WorkerRecord
from layerloom.store.models import Job, JobEvent
from layerloom.train.checkpoint import CHECKPOINT_FILE, save_checkpoint

from test_jobs import submit

ADMIN_PATHS = ("/api/admin/queue", "/api/admin/jobs/running", "/api/admin/workers")


def claim(app, job_id: str, worker_id: str) -> None:
    with app.state.sessionmaker() as session:
        token = session.scalar(select(Job.dispatch_token).where(Job.id == job_id))
        assert lifecycle.claim(session, job_id, token, worker_id, 60)


def register(data_dir: Path, worker_id: str, *, seconds_ago: float = 0.0, job: str | None = None) -> None:
    registry = FileWorkers(data_dir)
    registry.beat(WorkerRecord(id=worker_id, name=worker_id, devices=["cpu"], job=job))
    path = next(p for p in registry.folder.glob("*.json") if json.loads(p.read_text())["id"] == worker_id)
    record = json.loads(path.read_text())
    record["last_seen"] = time.time() - seconds_ago
    path.write_text(json.dumps(record))


def test_admin_endpoints_are_404_for_everyone_but_the_admins(make_app, client_for, token_for) -> None:
    app = make_app(admin_users="alice, carol")
    app.state.dispatch = lambda *_: None
    alice, bob = client_for(app, token_for(app, "alice")), client_for(app, token_for(app, "bob"))
    anon = client_for(app)
    for path in ADMIN_PATHS:
        assert alice.get(path).status_code == 200, path
        assert bob.get(path).status_code == 404, path
        assert anon.get(path).status_code == 401, path  # token mode: no token is not even a user


def test_admin_sees_queue_depth_running_jobs_with_their_worker_and_the_workers(app, client_for, token_for,
                                                                              data_dir) -> None:
    app.state.settings.admin_users = "alice"
    app.state.dispatch = lambda *_: None
    alice = client_for(app, token_for(app, "alice"))
    first, second = submit(alice).json()["id"], submit(alice).json()["id"]
    claim(app, first, "host-a:11")
    register(data_dir, "host-a:11", job=first)
    register(data_dir, "host-b:12", seconds_ago=DEAD_SECONDS + 5)

    by_state = alice.get("/api/admin/queue").json()["by_state"]
    assert by_state["queued"] == 1 and by_state["running"] == 1 and sum(by_state.values()) == 2
    running = alice.get("/api/admin/jobs/running").json()
    assert [(j["id"], j["worker_id"], j["owner"]) for j in running] == [(first, "host-a:11", "alice")]
    workers = {w["id"]: w for w in alice.get("/api/admin/workers").json()}
    assert workers["host-a:11"]["alive"] and workers["host-a:11"]["current_job"] == first
    assert workers["host-a:11"]["devices"] == ["cpu"] and not workers["host-b:12"]["alive"]
    assert alice.get(f"/api/jobs/{first}").json()["worker_id"] == "host-a:11"  # the job API names its worker
    assert alice.get(f"/api/jobs/{second}").json()["worker_id"] is None


def test_health_is_degraded_when_a_registered_worker_stopped_answering(app, client_for, data_dir) -> None:
    client = client_for(app)
    assert client.get("/api/health").json()["components"]["worker"]["status"] == "unknown"
    register(data_dir, "host-a:1")
    assert client.get("/api/health").json()["status"] == "ok"
    register(data_dir, "host-b:2", seconds_ago=DEAD_SECONDS + 1)
    response = client.get("/api/health")
    assert response.status_code == 200 and response.json()["status"] == "degraded"
    assert "host-b:2 stopped answering" in response.json()["components"]["worker"]["detail"]
    register(data_dir, "host-a:1", seconds_ago=DEAD_SECONDS + 1)  # now nobody answers
    assert client.get("/api/health").status_code == 503


def test_metrics_are_scraped_with_the_expected_series(app, client_for, token_for, data_dir) -> None:
    app.state.dispatch = lambda *_: None
    alice = client_for(app, token_for(app, "alice"))
    job_id = submit(alice).json()["id"]
    submit(alice)
    claim(app, job_id, "host-a:1")
    register(data_dir, "host-a:1", job=job_id)
    text = client_for(app).get("/metrics").text
    samples = {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
               if line and not line.startswith("#")}
    assert samples['layerloom_jobs{state="queued"}'] == 1 and samples['layerloom_jobs{state="running"}'] == 1
    assert samples["layerloom_queue_wait_seconds_count"] == 1  # one job has started
    assert samples["layerloom_job_duration_seconds_count"] == 0  # none has ended
    assert samples["layerloom_workers"] == 1 and samples["layerloom_websockets"] == 0
    assert "layerloom_job_events_total" in samples and samples["layerloom_db_statements_total"] > 0
    for action in ("read", "write", "delete"):  # present from the first scrape (per process: earlier tests count)
        assert samples[f'layerloom_storage_errors_total{{action="{action}",backend="local"}}'] >= 0


def scrape(client) -> dict[str, float]:
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in client.get("/metrics").text.splitlines()
            if line and not line.startswith("#")}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_storage_errors_are_counted_by_backend_and_action(make_app, client_for, token_for) -> None:
    """An API whose S3 endpoint does not answer: the upload is a 503 that says why, and /metrics
    counts the failed write (the counter is per process, so the test compares before and after)."""
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    app = make_app(storage_url="s3://nowhere/x", storage_endpoint_url=f"http://127.0.0.1:{port}",
                   storage_region="us-east-1", storage_access_key="k", storage_secret_key="s",
                   storage_timeout_seconds=1, storage_max_attempts=1)
    alice, anon = client_for(app, token_for(app, "alice")), client_for(app)
    key = 'layerloom_storage_errors_total{action="write",backend="s3"}'
    before = scrape(anon)[key]
    response = alice.post("/api/datasets", files={"file": ("t.csv", b"a,b\n1,0\n2,1\n3,0\n4,1\n", "text/csv")})
    assert response.status_code == 503, response.text
    assert "could not be stored" in response.json()["detail"] and "Storage (s3) could not write" in response.json()["detail"]
    assert scrape(anon)[key] == before + 1
    assert [d for d in alice.get("/api/datasets").json()["data"] if d["kind"] != "builtin"] == []  # none kept


def test_a_dead_workers_job_is_requeued_before_its_lease_ends_saying_from_where(app, client_for, token_for,
                                                                              data_dir) -> None:
    app.state.dispatch = lambda *_: None
    alice = client_for(app, token_for(app, "alice"))
    with_checkpoint, without = submit(alice).json()["id"], submit(alice).json()["id"]
    claim(app, with_checkpoint, "dead:1")
    claim(app, without, "dead:1")
    run_dir = supervisor.job_dir(data_dir, with_checkpoint) / "run"
    save_checkpoint(run_dir / CHECKPOINT_FILE, {"epoch": 32})
    settings = app.state.settings
    with app.state.sessionmaker() as session:
        assert lifecycle.reap(session, 60) == []  # leases are fresh: nothing yet
        requeued = lifecycle.reap(session, 60, ["dead:1"], lambda job_id: supervisor.retry_from(settings, job_id))
    assert sorted(j for j, _ in requeued) == sorted([with_checkpoint, without])
    with app.state.sessionmaker() as session:
        last = {job_id: session.scalars(select(JobEvent.payload).where(JobEvent.job_id == job_id)
                                        .order_by(JobEvent.seq.desc())).first()["message"]
                for job_id in (with_checkpoint, without)}
    assert "Retrying from the checkpoint of epoch 32 (attempt 2 of 3)" in last[with_checkpoint]
    assert "Retrying from the start: no checkpoint (attempt 2 of 3)" in last[without]
