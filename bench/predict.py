"""Prediction latency: one-row predictions of the seed MLP through the real API (uvicorn on
loopback, SQLite, local auth; one keep-alive HTTP connection) with the model already cached.
Prints p50 and p90 in milliseconds; the goal is a p50 under 20 ms.

    PYTHONPATH=backend .venv/bin/python bench/predict.py [requests]
"""

from __future__ import annotations

import json
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import update

from layerloom.api import create_app
from layerloom.graph import compile_graph
from layerloom.jobs.runner import RUN_DIR
from layerloom.jobs.supervisor import job_dir
from layerloom.settings import Settings
from layerloom.store import migrate
from layerloom.store.models import Job, JobState
from layerloom.train.artifacts import write_artifacts

ROOT = Path(__file__).resolve().parents[1]


def main(requests: int = 300) -> None:
    graph = json.loads((ROOT / "examples" / "seed_mlp.json").read_text())
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        migrate(url)
        app = create_app(Settings(database_url=url, data_dir=Path(tmp) / "data", auth_mode="local"))
        app.state.dispatch = lambda job_id, token: None
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            job_id = client.post("/api/jobs", json={"graph": graph, "dataset": "random_classification"}).json()["id"]
            # The trained weights' values do not matter for latency: a seeded model stands in for training.
            write_artifacts(job_dir(app.state.settings.data_dir, job_id) / RUN_DIR, compile_graph(graph, seed=0),
                            graph=graph, history=[], manifest={})
            with app.state.sessionmaker() as session:
                session.execute(update(Job).where(Job.id == job_id).values(state=JobState.SUCCEEDED))
                session.commit()
            body = {"inputs": {"x": [0.1] * 100}}
            for _ in range(10):  # load the model into the cache, warm up the path
                assert client.post(f"/api/jobs/{job_id}/predict", json=body).status_code == 200
            times = []
            for _ in range(requests):
                start = time.perf_counter()
                response = client.post(f"/api/jobs/{job_id}/predict", json=body)
                times.append((time.perf_counter() - start) * 1000)
                assert response.status_code == 200
        server.should_exit = True
        thread.join(10)
        app.state.engine.dispose()
    times.sort()
    p50, p90 = statistics.median(times), times[int(0.9 * len(times))]
    print(f"single-row seed MLP prediction, warm cache, {requests} requests: "
          f"p50 {p50:.2f} ms, p90 {p90:.2f} ms (goal: p50 < 20 ms) {'OK' if p50 < 20 else 'SLOW'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 300)
