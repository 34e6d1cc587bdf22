"""The cluster, with no shared filesystem: real PostgreSQL (a fresh database of its own), real Redis
(broker, events and the worker registry, in a database number no other key uses, and a queue of its
own), moto's S3 server on loopback as the object storage, an API started with ``serve --no-worker``
and three ``layerloom worker`` processes, each of the four with its own empty data_dir.

One scenario, in the order an operator would meet it (each step needs the cluster the last one left):

1. the API and three workers start at the same instant on the fresh database: all up and healthy
   within 30 s, and exactly one of them migrated the schema;
2. a CSV and an image zip are uploaded (to the API) and trained on: each job runs on a worker whose
   data_dir never had the upload (it came from storage), and weights, manifest, results and an
   export download with 200 from an API whose data_dir has no run file either;
3. ``kill -9`` of the worker running a job (its process group, runner included): another worker
   resumes it from the checkpoint of the last logged epoch within 20 s, and both the history and the
   live websocket stream have every epoch exactly once, in order;
4. the API restarts while jobs are queued and running: none is lost.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import zipfile
from pathlib import Path

import numpy as np
import psycopg
import pytest
import redis
from PIL import Image
from sklearn.datasets import load_digits

from layerloom.serve import MIGRATED_MESSAGE
from test_serve import TERMINAL, Server, load_example, read_stream, upload_digits
from test_storage import BUCKET, MotoServer

REDIS = "redis://127.0.0.1:6379"
LEASE = {"LAYERLOOM_LEASE_SECONDS": "4", "LAYERLOOM_HEARTBEAT_SECONDS": "1"}


def empty_redis_db() -> int:
    """A Redis database number that holds no key now (other tests use the others)."""
    for number in np.random.default_rng().permutation(range(1, 16)):
        client = redis.Redis.from_url(f"{REDIS}/{number}")
        if client.dbsize() == 0:
            client.set("layerloom-test-claim", "1", ex=600)  # so a test starting beside this one picks another
            return int(number)
    pytest.skip("no empty Redis database")


def digits_image_zip() -> bytes:
    digits = load_digits()
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for split, rows in (("train", range(0, 300)), ("valid", range(300, 360))):
            for i in rows:
                png = io.BytesIO()
                Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8), mode="L").save(png, format="PNG")
                archive.writestr(f"{split}/{digits.target[i]}/{i}.png", png.getvalue())
    return data.getvalue()


class Cluster:
    def __init__(self, root: Path, database_url: str, moto: MotoServer) -> None:
        self.root = root
        self.queue = f"c{uuid.uuid4().hex[:12]}"
        self.redis_db = empty_redis_db()
        self.env = {
            **LEASE, "LAYERLOOM_DATABASE_URL": database_url, "LAYERLOOM_BROKER_URL": f"{REDIS}/{self.redis_db}",
            "LAYERLOOM_STORAGE_URL": f"s3://{BUCKET}/cluster-{self.queue}", "LAYERLOOM_STORAGE_ENDPOINT_URL": moto.url,
            "LAYERLOOM_STORAGE_REGION": "us-east-1", "LAYERLOOM_STORAGE_ACCESS_KEY": "testing",
            "LAYERLOOM_STORAGE_SECRET_KEY": "testing", "LAYERLOOM_STORAGE_TIMEOUT_SECONDS": "5",
            "LAYERLOOM_WORKER_QUEUES": self.queue, "LAYERLOOM_WARM_RUNNER": "false",
        }
        self.workers: dict[str, subprocess.Popen] = {}
        self.servers: list[Server] = []

    def start_api(self, name: str) -> Server:
        server = Server(self.root / f"{name}-data", "--no-worker", log_name=f"{name}.log", **self.env)
        self.servers.append(server)
        return server

    def start_worker(self, name: str) -> None:
        data_dir = self.root / f"{name}-data"
        self.workers[name] = subprocess.Popen(
            [sys.executable, "-m", "layerloom.cli", "worker", "--name", name], start_new_session=True,
            env={**os.environ, **self.env, "LAYERLOOM_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1"},
            stdout=subprocess.DEVNULL, stderr=open(self.root / f"{name}.log", "wb"))

    def logs(self) -> dict[str, str]:
        return {p.stem: p.read_text(errors="replace") for p in self.root.glob("*.log")}

    def stop(self) -> None:
        for proc in self.workers.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.workers.values():
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        for server in self.servers:
            if server.proc.poll() is None:
                server.stop()
        redis.Redis.from_url(f"{REDIS}/{self.redis_db}").flushdb()


def submit(server: Server, cluster: Cluster, graph, dataset: str, **config) -> str:
    response = server.http.post("/api/jobs", json={"graph": graph, "dataset": dataset,
                                                   "config": {"queue": cluster.queue, **config}})
    assert response.status_code == 201, response.text
    return response.json()["id"]


def live_workers(server: Server) -> dict[str, dict]:
    return {w["name"]: w for w in server.http.get("/api/admin/workers").json() if w["alive"]}


def worker_name(server: Server, worker_id: str) -> str:
    return next(w["name"] for w in server.http.get("/api/admin/workers").json() if w["id"] == worker_id)


def files_under(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


@pytest.mark.slow
def test_a_cluster_without_a_shared_filesystem(tmp_path: Path, fresh_postgres_database: str) -> None:
    moto = MotoServer()
    moto.storage()  # the bucket
    cluster = Cluster(tmp_path, fresh_postgres_database, moto)
    try:
        # 1. Everything at once on a fresh database.
        started = time.monotonic()
        api = cluster.start_api("api")
        for name in ("w1", "w2", "w3"):
            cluster.start_worker(name)
        api.wait_ready(timeout=60)
        while len(live_workers(api)) < 3:
            assert all(p.poll() is None for p in cluster.workers.values()), cluster.logs()
            assert time.monotonic() - started < 60, cluster.logs()
            time.sleep(0.3)
        up = time.monotonic() - started
        assert api.http.get("/api/health").json()["status"] == "ok"
        logs = cluster.logs()
        assert sum(text.count(MIGRATED_MESSAGE) for text in logs.values()) == 1, logs
        assert not any("Traceback" in text for text in logs.values()), logs
        with psycopg.connect(fresh_postgres_database.replace("+psycopg", "")) as conn:
            assert len(conn.execute("SELECT version_num FROM alembic_version").fetchall()) == 1
        print(f"\nAPI and three workers up and healthy {up:.1f} s after they started together")
        assert up < 30

        # 2. Uploads go to the API (then storage); workers train on them from storage.
        csv_id, _ = upload_digits(api)
        zip_response = api.http.post("/api/datasets", files={"file": ("digits.zip", digits_image_zip())},
                                     data={"options": '{"image_size": [8, 8], "color_mode": "grayscale"}'})
        assert zip_response.status_code == 201, zip_response.text
        zip_id = zip_response.json()["id"]
        on_csv = submit(api, cluster, load_example("two_head"), csv_id, epochs=2, batch_size=64, seed=1)
        on_zip = submit(api, cluster, load_example("digits_cnn"), zip_id, epochs=2, batch_size=32, seed=1)
        for job_id, dataset_id in ((on_csv, csv_id), (on_zip, zip_id)):
            job = api.wait_for(job_id, lambda j: j["state"] in TERMINAL, timeout=120)
            assert job["state"] == "succeeded", job
            ran_on = cluster.root / f"{worker_name(api, job['worker_id'])}-data"
            assert not (ran_on / "datasets").exists()  # the upload never was in its data_dir ...
            assert any(f"datasets/{dataset_id}/" in f for f in files_under(ran_on / "cache"))  # ... it came from storage
            for path in ("weights", "manifest", "results", "export?format=pytorch", "export?format=onnx"):
                response = api.http.get(f"/api/jobs/{job_id}/{path}")
                assert response.status_code == 200, (path, response.text[:300])
        assert not (api.data_dir / "jobs").exists()  # the API served all of that from storage
        assert files_under(api.data_dir / "datasets") == []  # its uploads went on to storage

        # 3. kill -9 a worker mid-job: another resumes from the last stored checkpoint.
        job_id = submit(api, cluster, load_example("two_head"), csv_id, epochs=8, batch_size=32, seed=2)
        stream: list[dict] = []
        watcher = threading.Thread(target=lambda: stream.extend(read_stream(api, job_id)), daemon=True)
        watcher.start()
        api.wait_for(job_id, lambda j: 2 in api.epochs_logged(job_id), timeout=120)
        victim = worker_name(api, api.job(job_id)["worker_id"])
        logged = max(api.epochs_logged(job_id))
        os.killpg(cluster.workers[victim].pid, signal.SIGKILL)  # the worker and its runner, like a lost machine
        killed_at = time.monotonic()
        resumed = api.wait_for(job_id, lambda j: j["attempt"] == 2 and j["state"] == "running" and j["worker_id"],
                               timeout=30)
        took = time.monotonic() - killed_at
        assert worker_name(api, resumed["worker_id"]) != victim
        job = api.wait_for(job_id, lambda j: j["state"] in TERMINAL, timeout=180)
        assert job["state"] == "succeeded", job
        events = api.http.get(f"/api/jobs/{job_id}/events").json()
        retry = [e["payload"]["message"] for e in events if e["payload"].get("status") == "interrupted"]
        assert len(retry) == 1, retry
        resumed_from = int(retry[0].split("Retrying from the checkpoint of epoch ")[1].split(" ")[0])
        assert resumed_from >= logged  # stored before its epoch was logged: nothing logged is trained again
        assert any(e["type"] == "log" and f"Resumed from the checkpoint of epoch {resumed_from}" in
                   e["payload"].get("message", "") for e in events)
        assert api.epochs_logged(job_id) == list(range(1, 9))
        watcher.join(30)
        assert [m["epoch"] for m in stream if m.get("type") == "epoch"] == list(range(1, 9))
        seqs = [m["seq"] for m in stream if "seq" in m]
        assert seqs == sorted(set(seqs))
        print(f"killed w/ {logged} epoch(s) logged; resumed on another worker {took:.1f} s later: {retry[0]}")
        assert took < 20

        # 4. Restart the API with jobs queued and running: none is lost.
        jobs = [submit(api, cluster, load_example("two_head"), csv_id, epochs=3, batch_size=64, seed=s)
                for s in (3, 4, 5)]
        api.wait_for(jobs[0], lambda j: j["state"] == "running", timeout=60)
        states = {api.job(j)["state"] for j in jobs}
        assert "queued" in states, states  # two workers are left, each running one job at a time
        assert api.stop() == 0
        api = cluster.start_api("api-again")
        api.wait_ready(timeout=60, worker_statuses=("ok", "degraded"))  # degraded: the killed worker
        finished = [api.wait_for(j, lambda j: j["state"] in TERMINAL, timeout=180) for j in jobs]
        assert [j["state"] for j in finished] == ["succeeded"] * 3, finished
    finally:
        cluster.stop()
        moto.stop()
    leftover = subprocess.run(["pgrep", "-f", str(tmp_path)], capture_output=True, text=True).stdout.split()
    assert not leftover, f"processes left running: {leftover}"
