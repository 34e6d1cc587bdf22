"""End to end against a real ``layerloom serve`` (subprocess, random port, temp data dir, SQLite,
Celery on the filesystem transport, a supervised worker child): real HTTP and a real websocket.

Leases are short here (4 s, heartbeat 1 s) so that a killed worker is noticed quickly.
"""

from __future__ import annotations

import csv
import io
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
import torch
from safetensors.torch import load_file
from sklearn.datasets import load_digits
from websockets.sync.client import connect

from layerloom.graph import analyze, build_model

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
TERMINAL = {"succeeded", "failed", "cancelled"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, data_dir: Path, *serve_args: str, log_name: str = "serve.log", **extra_env: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.ws_url = f"ws://127.0.0.1:{self.port}"
        env = {**os.environ, "LAYERLOOM_DATA_DIR": str(data_dir), "LAYERLOOM_LEASE_SECONDS": "4",
               "LAYERLOOM_HEARTBEAT_SECONDS": "1", "LAYERLOOM_MAX_ATTEMPTS": "3", "OMP_NUM_THREADS": "1", **extra_env}
        self.log_path = data_dir.parent / log_name
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "layerloom.cli", "serve", "--port", str(self.port),
                                      *serve_args],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.http = httpx.Client(base_url=self.url, timeout=30, headers={"X-Layerloom-Client": "test"})

    def wait_ready(self, timeout: float = 90, worker_statuses: tuple[str, ...] = ("ok",)) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"layerloom serve exited early; see {self.log_path}"
            try:
                health = self.http.get("/api/health").json()
                if health["components"]["worker"]["status"] in worker_statuses:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        raise AssertionError("the server or its worker did not become ready")

    def job(self, job_id: str) -> dict[str, Any]:
        return self.http.get(f"/api/jobs/{job_id}").raise_for_status().json()

    def wait_for(self, job_id: str, predicate, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            job = self.job(job_id)
            if predicate(job):
                return job
            time.sleep(0.2)
        raise AssertionError(f"job {job_id} never got there: {self.job(job_id)}")

    def epochs_logged(self, job_id: str) -> list[int]:
        return [row["epoch"] for row in self.http.get(f"/api/jobs/{job_id}/metrics").json()["epochs"]]

    def stop(self) -> int:
        """Ctrl-C, as a user would."""
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            return self.proc.wait(30)
        finally:
            self.log.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    data_dir = tmp_path_factory.mktemp("serve") / "data"
    srv = Server(data_dir)
    try:
        srv.wait_ready()
        yield srv
    finally:
        if srv.proc.poll() is None:
            code = srv.stop()
            assert code == 0, "layerloom serve did not stop cleanly on Ctrl-C"
        # No worker or runner is left behind.
        leftover = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True).stdout.split()
        assert not leftover, f"processes left running: {leftover}"


def digits_csv() -> tuple[bytes, dict[str, np.ndarray]]:
    """sklearn's digits as a CSV: 64 pixel columns, the digit, its ink (mean intensity), a split column."""
    digits = load_digits()
    x = (digits.data / 16.0).astype(np.float32)
    ink = x.mean(axis=1)
    split = np.array(["train"] * len(x), dtype=object)
    split[int(len(x) * 0.7):int(len(x) * 0.85)] = "valid"
    split[int(len(x) * 0.85):] = "test"
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([f"p{i}" for i in range(64)] + ["digit", "ink", "split"])
    for row, label, mean, part in zip(x, digits.target, ink, split):
        writer.writerow([f"{v:.6g}" for v in row] + [int(label), f"{mean:.6g}", part])
    test = split == "test"
    test_x = np.array([[float(f"{v:.6g}") for v in row] for row in x[test]], dtype=np.float32)
    return out.getvalue().encode(), {"x": test_x.reshape(-1, 1, 8, 8), "digit": digits.target[test],
                                     "ink": np.array([float(f"{m:.6g}") for m in ink[test]], dtype=np.float32)}


def upload_digits(server: Server) -> tuple[str, dict[str, np.ndarray]]:
    body, test = digits_csv()
    options = {"inputs": {"x": [f"p{i}" for i in range(64)]}, "input_shapes": {"x": [1, 8, 8]},
               "targets": {"digit": {"column": "digit", "kind": "categorical"}, "ink": {"column": "ink", "kind": "numeric"}},
               "split_column": "split"}
    response = server.http.post("/api/datasets", files={"file": ("digits.csv", body, "text/csv")},
                                data={"name": "digits-csv", "options": json.dumps(options)})
    assert response.status_code == 201, response.text
    return response.json()["id"], test


def submit(server: Server, graph: dict[str, Any], dataset: str, **config: Any) -> str:
    response = server.http.post("/api/jobs", json={"graph": graph, "dataset": dataset, "config": config})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def read_stream(server: Server, job_id: str, after: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
    """Messages from the websocket until it closes (or ``limit`` log events have arrived)."""
    messages = []
    with connect(f"{server.ws_url}/api/jobs/{job_id}/events?after={after}", open_timeout=10) as ws:
        for raw in ws:
            message = json.loads(raw)
            messages.append(message)
            if limit is not None and sum("seq" in m for m in messages) >= limit:
                break
    return messages


def load_example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text())


def test_upload_train_two_heads_stream_and_download(server: Server, tmp_path: Path) -> None:
    dataset_id, test = upload_digits(server)
    graph = load_example("two_head")
    job_id = submit(server, graph, dataset_id, epochs=3, batch_size=32, seed=1, log_every_steps=5)

    messages = read_stream(server, job_id)  # from the start until the job ends and the server closes
    events = [m for m in messages if "seq" in m]
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    types = {e["type"] for e in events}
    assert {"status", "step", "epoch"} <= types
    epoch_events = [e for e in events if e["type"] == "epoch"]
    assert [e["epoch"] for e in epoch_events] == [1, 2, 3]
    assert {"loss", "digit/loss", "ink/loss", "digit/accuracy", "val_loss"} <= set(epoch_events[-1]["metrics"])
    states = [m["state"] for m in messages if m.get("type") == "state"]
    assert states[-1] == "succeeded"

    job = server.job(job_id)
    assert job["state"] == "succeeded" and job["attempt"] == 1
    reported = job["final_metrics"]
    history = server.http.get(f"/api/jobs/{job_id}/metrics").json()["epochs"]
    lowest = min(history, key=lambda row: row["val_loss"])  # the monitored metric of a run with validation
    assert (job["best"]["monitor"], job["best"]["epoch"], job["best"]["value"]) == ("val_loss", lowest["epoch"],
                                                                                   lowest["val_loss"])

    weights_file = tmp_path / "weights.safetensors"
    weights_file.write_bytes(server.http.get(f"/api/jobs/{job_id}/weights", params={"format": "safetensors"}).content)
    model = build_model(analyze(graph))
    model.load_state_dict(load_file(weights_file))
    model.eval()
    with torch.no_grad():
        out = model({"x": torch.from_numpy(test["x"])})
    accuracy = (out["digit"].argmax(-1).numpy() == test["digit"]).mean()
    mae = np.abs(out["ink"].squeeze(-1).numpy() - test["ink"]).mean()
    assert accuracy == pytest.approx(reported["test_digit/accuracy"], abs=1e-9)
    assert mae == pytest.approx(reported["test_ink/mae"], abs=1e-5)
    assert accuracy > 0.5  # it learned something in three epochs

    results = server.http.get(f"/api/jobs/{job_id}/results").json()
    assert results["split"] == "test" and results["size"] == len(test["digit"])
    matrix = np.array(results["heads"]["digit"]["confusion_matrix"])
    assert matrix.shape == (10, 10) and matrix.sum() == len(test["digit"])
    assert np.trace(matrix) / matrix.sum() == pytest.approx(accuracy)
    assert results["heads"]["ink"]["kind"] == "regression" and len(results["heads"]["ink"]["pairs"]) == len(test["ink"])
    assert results["samples"][0]["inputs"]["x"]["kind"] == "image"

    pt = server.http.get(f"/api/jobs/{job_id}/weights", params={"format": "pt"})
    assert pt.status_code == 200 and len(pt.content) > 1000
    assert server.http.get(f"/api/jobs/{job_id}/graph").json() == graph
    assert server.http.get(f"/api/jobs/{job_id}/manifest").json()["graph"]["name"] == graph["name"]


def test_late_and_reconnecting_watchers_get_every_event_once_in_order(server: Server) -> None:
    job_id = submit(server, load_example("seed_mlp"), "random_classification", epochs=4, batch_size=16)
    first = read_stream(server, job_id, after=0, limit=3)  # disconnects after three log events
    seqs = [m["seq"] for m in first if "seq" in m]
    rest = read_stream(server, job_id, after=seqs[-1])  # reconnect where it left off
    seqs += [m["seq"] for m in rest if "seq" in m]
    late = [m["seq"] for m in read_stream(server, job_id, after=0) if "seq" in m]  # a late joiner after the end
    log = [e["seq"] for e in server.http.get(f"/api/jobs/{job_id}/events").json()]
    assert seqs == late == log == list(range(1, len(log) + 1))
    assert server.job(job_id)["state"] == "succeeded"


def runner_pids(job_id: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"layerloom.jobs.runner .*{job_id}"], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_cancel_stops_the_runner_within_five_seconds(server: Server) -> None:
    job_id = submit(server, load_example("digits_cnn"), "digits", epochs=500, batch_size=16)
    server.wait_for(job_id, lambda j: j["state"] == "running" and runner_pids(job_id), timeout=60)
    time.sleep(1.0)  # let it get into training
    started = time.monotonic()
    assert server.http.post(f"/api/jobs/{job_id}/cancel").json()["state"] in ("cancelling", "cancelled")
    job = server.wait_for(job_id, lambda j: j["state"] in TERMINAL, timeout=10)
    assert job["state"] == "cancelled"
    assert time.monotonic() - started < 5.0
    assert not runner_pids(job_id)
    assert server.http.post(f"/api/jobs/{job_id}/cancel").status_code == 409  # nothing left to cancel


def kill_mid_training_and_finish(server: Server, kill) -> dict[str, Any]:
    job_id = submit(server, load_example("digits_cnn"), "digits", epochs=5, batch_size=32, seed=3)
    server.wait_for(job_id, lambda j: 2 in server.epochs_logged(job_id), timeout=120)
    kill(job_id)
    job = server.wait_for(job_id, lambda j: j["state"] in TERMINAL, timeout=180)
    assert job["state"] == "succeeded", job
    assert job["attempt"] == 2
    assert server.epochs_logged(job_id) == [1, 2, 3, 4, 5]  # none missing, none twice
    statuses = [e["payload"]["status"] for e in server.http.get(f"/api/jobs/{job_id}/events").json() if e["type"] == "status"]
    assert "interrupted" in statuses
    return job


def test_killing_the_runner_resumes_from_the_last_checkpoint(server: Server) -> None:
    def kill(job_id: str) -> None:
        pids = runner_pids(job_id)
        assert pids
        for pid in pids:
            os.kill(pid, signal.SIGKILL)

    kill_mid_training_and_finish(server, kill)


def test_killing_the_worker_resumes_from_the_last_checkpoint(server: Server) -> None:
    def kill(job_id: str) -> None:
        # This server's worker only: the pid it reports in its liveness file.
        workers = [json.loads(f.read_text())["pid"] for f in (server.data_dir / "workers").glob("*.json")]
        assert workers
        for pid in workers:
            os.kill(pid, signal.SIGKILL)  # the runner dies with it (PR_SET_PDEATHSIG)

    kill_mid_training_and_finish(server, kill)
