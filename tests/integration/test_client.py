"""``layerloom.client`` against a real server on loopback: ``layerloom serve --no-worker`` (token
mode, SQLite) and a separate ``layerloom worker`` on the same data directory, so the API can be
restarted in the middle of a job while the worker goes on training.

Covers upload, submit, event iteration across a server-side disconnect (every event exactly once),
wait, download, export, predict and the mapping of API errors to ``ApiError``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
import safetensors.torch

from layerloom.client import ApiError, Client

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
SPECIES = ["setosa", "versicolor", "virginica"]

pytestmark = pytest.mark.slow


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Deployment:
    """An API process and a worker process sharing one data directory."""

    def __init__(self, tmp: Path) -> None:
        self.data_dir = tmp / "data"
        self.logs = tmp
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "LAYERLOOM_DATA_DIR": str(self.data_dir), "LAYERLOOM_AUTH_MODE": "token",
                    "LAYERLOOM_DATABASE_URL": "", "LAYERLOOM_BROKER_URL": "", "OMP_NUM_THREADS": "1",
                    "PYTHONUNBUFFERED": "1"}
        token = subprocess.run([sys.executable, "-m", "layerloom.cli", "token", "create", "alice"], env=self.env,
                               capture_output=True, text=True, check=True)
        self.token = token.stdout.strip().splitlines()[-1]
        self.worker = self._start("worker", "worker")
        self.api = self._start_api()

    def _start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        log = open(self.logs / f"{name}.log", "ab")
        return subprocess.Popen([sys.executable, "-m", "layerloom.cli", *args], env=self.env, stdout=log,
                                stderr=subprocess.STDOUT, start_new_session=True)

    def _start_api(self) -> subprocess.Popen[bytes]:
        return self._start("api", "serve", "--no-worker", "--port", str(self.port))

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.api.poll() is None, (self.logs / "api.log").read_text()[-3000:]
            try:
                health = httpx.get(f"{self.url}/api/health", timeout=2).json()
                if health["components"]["worker"]["status"] == "ok":
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.3)
        raise AssertionError("the API or the worker did not become ready")

    def restart_api(self) -> None:
        """Kill the API (its open websockets drop without a close frame) and start it again."""
        os.killpg(self.api.pid, signal.SIGKILL)
        self.api.wait(10)
        self.api = self._start_api()

    def stop(self) -> None:
        for proc in (self.api, self.worker):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in (self.api, self.worker):
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    deployment = Deployment(tmp_path_factory.mktemp("client"))
    try:
        deployment.wait_ready()
        yield deployment
    finally:
        deployment.stop()


@pytest.fixture
def client(deployment: Deployment) -> Iterator[Client]:
    with Client(deployment.url, token=deployment.token) as client:
        yield client


def flowers_csv(path: Path, n: int = 300) -> Path:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, n)
    x = rng.normal(0, 0.6, (n, 4)) + labels[:, None] * np.array([1.5, -1.0, 2.0, 0.5])
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["a", "b", "c", "d", "species"])
        writer.writerows([[*row.round(4), SPECIES[label]] for row, label in zip(x, labels)])
    return path


def test_a_job_from_upload_to_prediction(deployment: Deployment, client: Client, tmp_path: Path) -> None:
    dataset = client.datasets.upload(flowers_csv(tmp_path / "flowers.csv"), name="flowers", targets={"y": "species"})
    assert dataset["name"] == "flowers"
    graph = json.loads((EXAMPLES / "iris_mlp.json").read_text())
    job = client.jobs.submit(graph, dataset["id"], config={"epochs": 60, "batch_size": 16})
    assert job.state == "queued"

    seen = []
    restarted = False
    for event in job.events(reconnect_for=120):
        seen.append(event["seq"])
        if event["type"] == "epoch" and not restarted:
            deployment.restart_api()  # the stream drops mid-job; the client must reconnect with after=
            restarted = True
    assert restarted, "the job ended before the first epoch event: the disconnect was never tested"
    assert job.wait(timeout=120).state == "succeeded", job.info
    log = httpx.get(f"{deployment.url}/api/jobs/{job.id}/events", params={"limit": 10_000},
                    headers={"Authorization": f"Bearer {deployment.token}"}).json()
    assert seen == [e["seq"] for e in log]  # every event, once, in order, across the restart
    epochs = [e["payload"]["epoch"] for e in log if e["type"] == "epoch"]
    assert epochs == list(range(1, 61))

    weights = job.download("safetensors", tmp_path / "w.safetensors")
    assert set(safetensors.torch.load_file(str(weights))) >= {"d1.weight", "d1.bias"}
    exported = job.export("pytorch", tmp_path / "model.zip")
    with zipfile.ZipFile(exported) as archive:
        assert {"model.py", "weights.safetensors", "graph.json", "README.md"} <= set(archive.namelist())

    answer = job.predict({"x": np.array([[0.0, 0.0, 0.0, 0.0], [3.0, -2.0, 4.0, 1.0]])})
    assert len(answer["outputs"]["y"]) == 2
    assert answer["classes"]["y"][1]["top"] in SPECIES

    with pytest.raises(ApiError) as bad_input:
        job.predict({"x": [1.0, 2.0]})
    assert bad_input.value.status == 422
    assert [(p.code, p.node, p.field) for p in bad_input.value.problems] == [("shape", "x", "inputs.x")]


def test_api_errors_carry_the_problems(client: Client, deployment: Deployment) -> None:
    graph = json.loads((EXAMPLES / "seed_mlp.json").read_text())
    graph["nodes"][1]["params"]["units"] = -3
    with pytest.raises(ApiError) as invalid:
        client.jobs.submit(graph, "random_classification")
    assert invalid.value.status == 422
    assert any(p.node == "d1" and p.field and "units" in p.field for p in invalid.value.problems)
    assert "d1" in str(invalid.value)

    checked = client.graphs.validate(graph)  # a graph with errors is an answer, not an exception
    assert checked["ok"] is False
    saved = client.graphs.save(json.loads((EXAMPLES / "seed_mlp.json").read_text()), name="mlp")
    assert client.graphs.get(saved["graph"]["id"])["name"] == "mlp"

    with pytest.raises(ApiError) as missing:
        client.jobs.get("no-such-job")
    assert missing.value.status == 404 and missing.value.problems[0].code == "not_found"
    with pytest.raises(ApiError) as unauthorized, Client(deployment.url, token="wrong") as stranger:
        stranger.graphs.validate(graph)
    assert unauthorized.value.status == 401
    with pytest.raises(ApiError) as unreachable, Client(f"http://127.0.0.1:{free_port()}") as nowhere:
        nowhere.jobs.get("x")
    assert unreachable.value.status == 0 and "Cannot reach" in str(unreachable.value)
