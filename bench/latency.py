"""Start latency: from submitting a job to its first loss point on the websocket, and `layerloom check`.

Starts a real ``layerloom serve`` on loopback (its own data directory, SQLite and the embedded
broker, one worker), submits the seed MLP (examples/seed_mlp.json) N times, one job at a time, and
times each from the POST to the first step or epoch event the websocket delivers: what the chart in
the browser waits for. It does so twice: with the worker's warm runner (the default) and without
(``LAYERLOOM_WARM_RUNNER=0``: every job starts a fresh runner process, as before the warm runner).
Then it times ``layerloom check examples/seed_mlp.json`` (a fresh process each time) next to
``python -c pass``. Medians are printed with the goals (< 1.5 s to the first point, < 0.6 s for
check) and the load average, since a shared machine moves every figure.

    .venv/bin/python bench/latency.py [--repeats 10] [--dataset random_classification|upload] [--only warm|cold]
                                      [--gap 8]

Jobs are submitted ``--gap`` seconds after the previous one ended (and after the worker is ready):
time for the next warm runner to finish its imports on an idle machine, as when a user looks at one
run before starting the next.

``--dataset upload`` trains on a CSV of the same shape uploaded first (the runner then never needs
scikit-learn); the default is the built-in the seed MLP was made for.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
from websockets.sync.client import connect

ROOT = Path(__file__).resolve().parent.parent
SEED_MLP = ROOT / "examples" / "seed_mlp.json"
GOAL_FIRST_POINT, GOAL_CHECK = 1.5, 0.6


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``layerloom serve`` with the worker, on loopback, until ``stop``."""

    def __init__(self, data_dir: Path, warm: bool) -> None:
        self.port = free_port()
        env = {**os.environ, "LAYERLOOM_DATA_DIR": str(data_dir), "LAYERLOOM_DATABASE_URL": "",
               "LAYERLOOM_BROKER_URL": "", "LAYERLOOM_AUTH_MODE": "local",
               "LAYERLOOM_WARM_RUNNER": "1" if warm else "0"}
        self.log = open(data_dir.parent / f"serve-{'warm' if warm else 'cold'}.log", "wb")
        self.proc = subprocess.Popen([sys.executable, "-m", "layerloom.cli", "serve", "--port", str(self.port)],
                                     env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=60)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"layerloom serve exited; see {self.log.name}")
            try:
                if self.http.get("/api/health").json()["components"]["worker"]["status"] == "ok":
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise SystemExit("the server or its worker did not become ready in 120 s")

    def stop(self) -> None:
        os.killpg(self.proc.pid, 2)  # Ctrl-C
        self.proc.wait(60)
        self.log.close()


def upload_csv(server: Server) -> str:
    """A CSV shaped like the built-in random_classification: 100 features, 10 classes."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1000, 100))
    y = rng.integers(0, 10, 1000)
    text = io.StringIO()
    text.write(",".join(f"f{i}" for i in range(100)) + ",label\n")
    for row, label in zip(x, y):
        text.write(",".join(f"{v:.5f}" for v in row) + f",{label}\n")
    options = {"targets": {"y": {"column": "label", "kind": "categorical"}}}
    response = server.http.post("/api/datasets", files={"file": ("random.csv", text.getvalue().encode(), "text/csv")},
                                data={"name": "random.csv", "options": json.dumps(options)})
    response.raise_for_status()
    return response.json()["id"]


def time_to_first_point(server: Server, graph: dict, dataset: str) -> float:
    config = {"epochs": 2, "batch_size": 32, "validation_split": 0.15 if dataset != "random_classification" else 0}
    started = time.perf_counter()
    response = server.http.post("/api/jobs", json={"graph": graph, "dataset": dataset, "config": config})
    response.raise_for_status()
    job_id = response.json()["id"]
    first = None
    with connect(f"ws://127.0.0.1:{server.port}/api/jobs/{job_id}/events", open_timeout=30) as ws:
        for raw in ws:  # to the end of the job, so the next one starts on an idle worker
            message = json.loads(raw)
            if first is None and message.get("type") in ("step", "epoch"):
                first = time.perf_counter() - started
            if message.get("type") == "state" and message["state"] in ("failed", "cancelled"):
                raise SystemExit(f"job {job_id} {message['state']}: {server.http.get(f'/api/jobs/{job_id}').json()}")
    if first is None:
        raise SystemExit(f"job {job_id} ended without a step or epoch event")
    return first


def measure_jobs(warm: bool, repeats: int, dataset: str, gap: float) -> list[float]:
    graph = json.loads(SEED_MLP.read_text())
    with tempfile.TemporaryDirectory(prefix="layerloom-latency-") as tmp:
        data_dir = Path(tmp) / "data"
        server = Server(data_dir, warm)
        try:
            target = upload_csv(server) if dataset == "upload" else dataset
            times = []
            for _ in range(repeats):
                time.sleep(gap)  # an idle worker, as when a user submits after looking at the last run
                times.append(time_to_first_point(server, graph, target))
            return times
        finally:
            server.stop()


def wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - started


def layerloom_command() -> list[str]:
    script = Path(sys.executable).with_name("layerloom")
    return [str(script)] if script.exists() else [sys.executable, "-m", "layerloom.cli"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10, help="jobs per configuration, and check runs (medians)")
    parser.add_argument("--dataset", default="random_classification", help="random_classification or upload")
    parser.add_argument("--only", choices=("warm", "cold"), help="measure jobs with or without the warm runner only")
    parser.add_argument("--gap", type=float, default=8.0,
                        help="seconds between one job's end and the next submission (the warm runner's warm-up)")
    args = parser.parse_args()

    print(f"load average at start: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs); "
          f"median of {args.repeats}; seed MLP on {args.dataset}")
    check = [wall([*layerloom_command(), "check", str(SEED_MLP)]) for _ in range(args.repeats)]
    empty = [wall([sys.executable, "-c", "pass"]) for _ in range(args.repeats)]
    print(f"layerloom check examples/seed_mlp.json  {statistics.median(check):6.3f} s   "
          f"(python -c pass {statistics.median(empty):.3f} s; goal < {GOAL_CHECK} s)", flush=True)
    ok = statistics.median(check) < GOAL_CHECK
    for warm in (True, False):
        if args.only and args.only != ("warm" if warm else "cold"):
            continue
        times = measure_jobs(warm, args.repeats, args.dataset, args.gap)
        label = "warm runner" if warm else "cold runner (LAYERLOOM_WARM_RUNNER=0)"
        print(f"submit -> first point, {label:<38} {statistics.median(times):6.3f} s   "
              f"(min {min(times):.3f}, max {max(times):.3f}; goal < {GOAL_FIRST_POINT} s)", flush=True)
        if warm:
            ok = ok and statistics.median(times) < GOAL_FIRST_POINT
    print(f"load average at end: {os.getloadavg()[0]:.2f}; {'OK' if ok else 'BELOW GOAL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
