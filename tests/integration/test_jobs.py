"""Jobs on SQLite and PostgreSQL: submission checks (every bad input its own 4xx, nothing stored),
ownership, cancel, the event log and websocket, and the fenced job lifecycle (claim, lease, reaper)."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from layerloom.api.auth import get_or_create_user
from layerloom.jobs import lifecycle
from layerloom.store.models import Job, JobEvent, JobState, utcnow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def seed_mlp() -> dict[str, Any]:
    return json.loads((EXAMPLES / "seed_mlp.json").read_text())


def job_count(app: FastAPI) -> int:
    with app.state.sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


def submit(client, **body: Any):
    return client.post("/api/jobs", json={"graph": seed_mlp(), "dataset": "random_classification", **body})


@pytest.fixture
def dispatched(app: FastAPI) -> list[tuple[str, str]]:
    """Record dispatches instead of sending them (no worker runs in these tests)."""
    sent: list[tuple[str, str]] = []
    app.state.dispatch = lambda job_id, token, queue="default": sent.append((job_id, token))
    return sent


# ---- submission ---------------------------------------------------------------------------


def test_a_valid_job_is_queued_committed_then_dispatched(app, client_a, dispatched) -> None:
    response = submit(client_a, config={"epochs": 2})
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["state"] == "queued" and job["dataset"] == "random_classification" and job["config"] == {"epochs": 2}
    assert job["effective_config"]["epochs"] == 2 and job["effective_config"]["batch_size"] == 32  # defaults filled in
    assert [d[0] for d in dispatched] == [job["id"]]
    with app.state.sessionmaker() as session:
        row = session.get(Job, job["id"])
        assert row.dispatch_token == dispatched[0][1]  # the token that was sent is the claimable one
    events = client_a.get(f"/api/jobs/{job['id']}/events").json()
    assert [(e["seq"], e["payload"]["status"]) for e in events] == [(1, "queued")]


def test_malformed_json_is_422_and_stores_nothing(app, client_a, dispatched) -> None:
    response = client_a.post("/api/jobs", content=b'{"graph": {', headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert job_count(app) == 0 and not dispatched


def test_an_invalid_graph_is_422_with_node_and_field(app, client_a, dispatched) -> None:
    graph = seed_mlp()
    graph["nodes"][1]["params"]["units"] = 0
    response = client_a.post("/api/jobs", json={"graph": graph, "dataset": "random_classification"})
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors[0]["node"] == "d1" and errors[0]["field"] == "graph.params.units" and errors[0]["code"] == "bad_param"
    assert job_count(app) == 0 and not dispatched


def test_an_unknown_dataset_is_404(app, client_a, dispatched) -> None:
    response = submit(client_a, dataset="no-such-data")
    assert response.status_code == 404 and "digits" in response.json()["detail"]
    assert job_count(app) == 0 and not dispatched


def test_a_mapping_mismatch_is_422_naming_the_node(app, client_a, dispatched) -> None:
    response = submit(client_a, dataset="iris")  # 4 features and 3 classes for a 100-feature, 10-class model
    assert response.status_code == 422
    problems = {(e["node"], e["code"]) for e in response.json()["errors"]}
    assert ("x", "shape_mismatch") in problems and ("y", "class_count_mismatch") in problems
    assert job_count(app) == 0 and not dispatched


def test_a_bad_config_is_422_with_the_field(app, client_a, dispatched) -> None:
    response = submit(client_a, config={"epochs": 0, "optimizer": {"name": "adamm"}})
    assert response.status_code == 422
    fields = {e["field"] for e in response.json()["errors"]}
    assert {"config.epochs", "config.optimizer.name"} <= fields
    assert job_count(app) == 0 and not dispatched


def test_check_runs_every_submit_check_and_stores_nothing(app, client_a, dispatched) -> None:
    ok = client_a.post("/api/jobs/check", json={"graph": seed_mlp(), "dataset": "random_classification"})
    assert ok.status_code == 204
    bad = client_a.post("/api/jobs/check", json={"graph": seed_mlp(), "dataset": "iris"})
    assert bad.status_code == 422
    assert {(e["node"], e["code"]) for e in bad.json()["errors"]} >= {("x", "shape_mismatch"), ("y", "class_count_mismatch")}
    assert job_count(app) == 0 and dispatched == []
    assert client_a.get("/api/graphs").json()["count"] == 0


def test_another_users_job_is_404_everywhere(client_a, client_b, dispatched) -> None:
    job_id = submit(client_a).json()["id"]
    for method, path in [("get", ""), ("post", "/cancel"), ("delete", ""), ("get", "/metrics"), ("get", "/events"),
                         ("get", "/weights"), ("get", "/graph"), ("post", "/ticket")]:
        assert getattr(client_b, method)(f"/api/jobs/{job_id}{path}").status_code == 404, path
    assert client_b.get("/api/jobs").json() == {"data": [], "count": 0}
    assert client_a.get(f"/api/jobs/{job_id}").status_code == 200


def test_a_saved_graph_version_can_be_trained(client_a, dispatched) -> None:
    saved = client_a.post("/api/graphs", json={"name": "mlp", "document": seed_mlp()}).json()
    graph_id = saved["graph"]["id"] if "graph" in saved else saved["id"]
    response = client_a.post("/api/jobs", json={"graph_id": graph_id, "dataset": "random_classification"})
    assert response.status_code == 201, response.text
    assert response.json()["graph_id"] == graph_id and response.json()["graph_version"] == 1
    assert client_a.get("/api/jobs", params={"graph_id": graph_id}).json()["count"] == 1


# ---- cancel, delete, list -----------------------------------------------------------------


def test_cancelling_a_queued_job_ends_it_at_once_and_it_can_be_deleted(client_a, dispatched) -> None:
    job_id = submit(client_a).json()["id"]
    assert client_a.delete(f"/api/jobs/{job_id}").status_code == 409  # still active
    assert client_a.post(f"/api/jobs/{job_id}/cancel").json()["state"] == "cancelled"
    assert client_a.post(f"/api/jobs/{job_id}/cancel").status_code == 409
    assert client_a.get("/api/jobs", params={"state": "cancelled"}).json()["count"] == 1
    assert client_a.delete(f"/api/jobs/{job_id}").status_code == 204
    assert client_a.get(f"/api/jobs/{job_id}").status_code == 404


def test_no_artifacts_before_the_job_has_run(client_a, dispatched) -> None:
    job_id = submit(client_a).json()["id"]
    response = client_a.get(f"/api/jobs/{job_id}/weights")
    assert response.status_code == 404 and "queued" in response.json()["detail"]
    assert client_a.get(f"/api/jobs/{job_id}/graph").json()["name"] == "seed-mlp"


def test_websocket_replays_the_log_and_closes_when_the_job_has_ended(app, client_a, dispatched) -> None:
    job_id = submit(client_a).json()["id"]
    client_a.post(f"/api/jobs/{job_id}/cancel")
    ticket = client_a.post(f"/api/jobs/{job_id}/ticket").json()["ticket"]
    with client_a.websocket_connect(f"/api/jobs/{job_id}/events?after=0&ticket={ticket}") as ws:
        first, second, state = ws.receive_json(), ws.receive_json(), ws.receive_json()
    assert (first["seq"], first["status"]) == (1, "queued")
    assert (second["seq"], second["status"]) == (2, "cancelled")
    assert state == {"type": "state", "state": "cancelled"}
    # A ticket is single use, and the websocket refuses a missing token in token mode.
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with client_a.websocket_connect(f"/api/jobs/{job_id}/events?ticket={ticket}") as ws:
            ws.receive_json()


# ---- lifecycle: claim, lease, reaper ------------------------------------------------------


def make_job(session: Session, max_attempts: int = 2) -> tuple[str, str]:
    user = get_or_create_user(session, "worker-test")
    job = Job(owner_id=user.id, graph=seed_mlp(), builtin_dataset="digits", mapping={}, config={},
              state=JobState.QUEUED, attempt=0, max_attempts=max_attempts)
    session.add(job)
    session.flush()
    token = lifecycle.new_dispatch(session, job.id, 60)
    session.commit()
    return job.id, token


def expire_lease(session: Session, job_id: str) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
    session.commit()


def test_claim_is_fenced_by_the_dispatch_token(session: Session) -> None:
    job_id, token = make_job(session)
    assert not lifecycle.claim(session, job_id, "stale-token", "w1", 60)
    assert lifecycle.claim(session, job_id, token, "w1", 60)
    assert not lifecycle.claim(session, job_id, token, "w2", 60)  # a duplicate delivery does nothing
    job = session.get(Job, job_id, populate_existing=True)
    assert (job.state, job.worker_id, job.attempt) == (JobState.RUNNING, "w1", 1)


def test_lease_renewal_reports_cancel_and_loss(session: Session) -> None:
    job_id, token = make_job(session)
    lifecycle.claim(session, job_id, token, "w1", 60)
    assert lifecycle.renew_lease(session, job_id, token, 60) == lifecycle.LeaseStatus(held=True, cancel_requested=False)
    session.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
    session.commit()
    assert lifecycle.renew_lease(session, job_id, token, 60).cancel_requested
    assert not lifecycle.renew_lease(session, job_id, "another-token", 60).held


def test_reaper_requeues_an_expired_lease_then_fails_after_max_attempts(session: Session) -> None:
    job_id, token = make_job(session, max_attempts=2)
    lifecycle.claim(session, job_id, token, "w1", 60)
    expire_lease(session, job_id)
    [(reaped_id, new_token)] = lifecycle.reap(session, 60)
    assert reaped_id == job_id and new_token != token
    assert not lifecycle.finish(session, job_id, token, JobState.SUCCEEDED)  # the lost worker is fenced out
    assert lifecycle.claim(session, job_id, new_token, "w2", 60)
    expire_lease(session, job_id)
    assert lifecycle.reap(session, 60) == []  # attempt 2 of 2: no more retries
    job = session.get(Job, job_id, populate_existing=True)
    assert job.state == JobState.FAILED and "Giving up after 2 attempt(s)" in job.error
    statuses = [p["status"] for p in session.scalars(select(JobEvent.payload).where(JobEvent.job_id == job_id)
                                                    .order_by(JobEvent.seq))]
    assert statuses == ["interrupted", "failed"]


def test_reaper_redispatches_a_queued_job_nobody_claimed(session: Session) -> None:
    job_id, token = make_job(session)
    expire_lease(session, job_id)
    [(reaped_id, new_token)] = lifecycle.reap(session, 60)
    assert reaped_id == job_id and new_token != token
    assert not lifecycle.claim(session, job_id, token, "w1", 60)
    assert lifecycle.claim(session, job_id, new_token, "w1", 60)


def test_a_cancelled_job_whose_worker_vanished_ends_cancelled(session: Session) -> None:
    job_id, token = make_job(session)
    lifecycle.claim(session, job_id, token, "w1", 60)
    session.execute(update(Job).where(Job.id == job_id).values(state=JobState.CANCELLING, cancel_requested=True))
    session.commit()
    expire_lease(session, job_id)
    assert lifecycle.reap(session, 60) == []
    assert session.get(Job, job_id, populate_existing=True).state == JobState.CANCELLED


def test_event_seq_is_monotonic_per_job(session: Session) -> None:
    job_a, _ = make_job(session)
    job_b, _ = make_job(session)
    seqs = [lifecycle.append_event(session, job, "log", {"message": str(i)}) for i, job in enumerate([job_a, job_a, job_b, job_a])]
    session.commit()
    assert seqs == [1, 2, 1, 3]


# ---- samples for the data panel -----------------------------------------------------------


def test_dataset_samples_show_images_and_class_names(client_a) -> None:
    body = client_a.get("/api/datasets/digits/samples", params={"split": "test", "n": 3}).json()
    assert body["split"] == "test" and len(body["samples"]) == 3
    first = body["samples"][0]
    assert first["x"]["kind"] == "image" and first["x"]["png"].startswith("data:image/png;base64,")
    assert first["y"]["kind"] == "label" and first["y"]["class"] == str(first["y"]["value"])
    iris = client_a.get("/api/datasets/iris/samples", params={"n": 2}).json()["samples"][0]
    assert iris["x"]["kind"] == "values" and len(iris["x"]["values"]) == 4
    assert client_a.get("/api/datasets/nope/samples").status_code == 404
    assert client_a.get("/api/datasets/digits/samples", params={"n": 1000}).status_code == 422


# ---- the best epoch -----------------------------------------------------------------------


def run_to_the_end(app: FastAPI, job_id: str, token: str, epochs: list[dict[str, float]]) -> None:
    """What a worker records: claim, one epoch event per epoch, then finish (which stores the best)."""
    with app.state.sessionmaker() as session:
        assert lifecycle.claim(session, job_id, token, "w1", 60)
        for number, metrics in enumerate(epochs, start=1):
            lifecycle.append_event(session, job_id, "epoch", {"epoch": number, "metrics": metrics})
        session.commit()
        assert lifecycle.finish(session, job_id, token, JobState.SUCCEEDED, final_metrics=epochs[-1])


@pytest.mark.parametrize(("config", "monitor", "pick"), [
    ({"epochs": 4}, "val_loss", min),
    ({"epochs": 4, "early_stopping": {"monitor": "val_y/accuracy", "patience": 5}}, "val_y/accuracy", max),
])
def test_a_finished_jobs_best_is_the_best_epoch_of_its_history(app, client_a, dispatched, config, monitor, pick) -> None:
    job_id = submit(client_a, config=config).json()["id"]
    # The last epoch is neither the best loss nor the best accuracy: "Best" must not be the last epoch.
    run_to_the_end(app, job_id, dispatched[-1][1], [
        {"loss": 1.0, "val_loss": 0.9, "val_y/accuracy": 0.60},
        {"loss": 0.7, "val_loss": 0.5, "val_y/accuracy": 0.80},
        {"loss": 0.5, "val_loss": 0.6, "val_y/accuracy": 0.90},
        {"loss": 0.4, "val_loss": 0.8, "val_y/accuracy": 0.85},
    ])
    history = client_a.get(f"/api/jobs/{job_id}/metrics").json()["epochs"]
    best_row = pick(history, key=lambda row: row[monitor])
    [listed] = [j for j in client_a.get("/api/jobs").json()["data"] if j["id"] == job_id]
    assert listed["best"]["monitor"] == monitor and listed["best"]["value"] == best_row[monitor]
    assert listed["best"]["epoch"] == best_row["epoch"] != len(history)
    assert listed["best"]["metrics"] == {k: v for k, v in best_row.items() if k != "epoch"}
    assert client_a.get(f"/api/jobs/{job_id}").json()["best"] == listed["best"]


def test_without_validation_the_best_is_by_training_loss(app, client_a, dispatched) -> None:
    job_id = submit(client_a, config={"epochs": 2}).json()["id"]
    run_to_the_end(app, job_id, dispatched[-1][1], [{"loss": 0.5}, {"loss": 0.7}])
    best = client_a.get(f"/api/jobs/{job_id}").json()["best"]
    assert (best["monitor"], best["epoch"], best["value"]) == ("loss", 1, 0.5)


# ---- the final status message agrees with the final state ----------------------------------


def test_the_final_status_message_agrees_with_the_state_the_job_ended_in() -> None:
    from layerloom.jobs.supervisor import final_status_payload

    failed_during_cancel = {"type": "status", "status": "failed", "message": "Training failed: loss is NaN.", "epoch": 2}
    payload = final_status_payload(failed_during_cancel, JobState.CANCELLED, None)
    assert (payload["status"], payload["message"], payload["epoch"]) == ("cancelled", "Cancelled.", 2)
    cancelled = {"status": "cancelled", "message": "Cancelled during epoch 3 at step 40."}
    assert final_status_payload(cancelled, JobState.CANCELLED, None)["message"] == "Cancelled during epoch 3 at step 40."
    assert final_status_payload({}, JobState.FAILED, "exited with code 1")["message"] == "exited with code 1"


def test_jobs_show_an_uploads_name_never_its_id(client_a, dispatched) -> None:
    import io

    import numpy as np

    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buffer, x_train=rng.random((20, 100), dtype=np.float32), y_train=np.arange(20) % 10)
    upload = client_a.post("/api/datasets", files={"file": ("blobs.npz", buffer.getvalue())}, data={"name": "my blobs"})
    assert upload.status_code == 201, upload.text
    dataset_id = upload.json()["id"]
    job = submit(client_a, dataset=dataset_id, config={"epochs": 1}).json()
    assert (job["dataset"], job["dataset_name"]) == (dataset_id, "my blobs")
    assert client_a.get(f"/api/jobs/{job['id']}").json()["dataset_name"] == "my blobs"
    builtin = submit(client_a, config={"epochs": 1}).json()
    listed = {j["id"]: j["dataset_name"] for j in client_a.get("/api/jobs").json()["data"]}
    assert listed == {job["id"]: "my blobs", builtin["id"]: "random_classification"}
    filtered = client_a.get(f"/api/jobs?dataset={dataset_id}").json()["data"]
    assert [j["dataset_name"] for j in filtered] == ["my blobs"]
    # Once the upload is deleted, the job still never shows an id.
    assert client_a.post(f"/api/jobs/{job['id']}/cancel").status_code == 200
    assert client_a.delete(f"/api/datasets/{dataset_id}").status_code == 204
    assert client_a.get(f"/api/jobs/{job['id']}").json()["dataset_name"] == "(deleted dataset)"
