"""Worker controls against real processes: a ``layerloom serve`` whose embedded worker takes only the
``cpu`` queue, and a ``layerloom worker --queues gpu --concurrency 2 --devices cuda:0,cuda:1`` beside
it (kombu's filesystem broker under one data dir). The device names are only handed to the runners
through CUDA_VISIBLE_DEVICES, so this runs on a machine without a GPU: the runners train on the CPU.

- a job asking for a GPU while no worker takes the ``gpu`` queue waits, queued, and says why;
- a job on ``gpu`` is taken only by the worker listening on ``gpu``, one on ``cpu`` only by the other;
- two ``gpu`` jobs run at the same time on the concurrency-2 worker, each runner seeing another device;
- a distributed job with two ranks takes both devices (its runner sees ``0,1``), so a one-device job
  waits for it rather than share one; a job with more ranks than the worker has devices fails, saying so.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime

import pytest

from layerloom.jobs.devices import DevicePool, runner_env, slots_needed
from layerloom.jobs.queues import job_queue
from layerloom.jobs.runner import SPEC_FILE
from layerloom.jobs.supervisor import write_spec
from layerloom.store.models import Job
from layerloom.settings import Settings
from layerloom.worker.options import WorkerOptions
from test_serve import TERMINAL, Server, load_example, submit

LEASE = {"LAYERLOOM_LEASE_SECONDS": "4", "LAYERLOOM_HEARTBEAT_SECONDS": "1"}


def started_worker(data_dir, *options: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "layerloom.cli", "worker", *options], start_new_session=True,
                            env={**os.environ, "LAYERLOOM_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1", **LEASE},
                            stdout=subprocess.DEVNULL, stderr=open(data_dir.parent / "worker.log", "wb"))


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.slow
def test_queues_concurrency_and_devices(tmp_path) -> None:
    data_dir = tmp_path / "data"
    server = Server(data_dir, LAYERLOOM_WORKER_QUEUES="cpu", LAYERLOOM_WORKER_NAME="cpu-box")
    gpu_worker = None
    try:
        server.wait_ready()
        graph = load_example("iris_mlp")

        # No worker takes "gpu" yet: the job waits, queued, through the reaper's re-dispatches, and says why;
        # meanwhile a job on "cpu" runs on the embedded worker.
        waiting = submit(server, graph, "iris", epochs=1, device="cuda")
        submitted_at = time.monotonic()
        events = server.http.get(f"/api/jobs/{waiting}/events").json()
        assert "no worker takes jobs from that queue" in events[0]["payload"]["message"]
        assert "layerloom worker --queues gpu" in events[0]["payload"]["message"]
        on_cpu = submit(server, graph, "iris", epochs=2, queue="cpu")
        cpu_job = server.wait_for(on_cpu, lambda j: j["state"] in TERMINAL, timeout=120)
        time.sleep(max(0.0, 6 - (time.monotonic() - submitted_at)))  # past the 4 s lease: re-dispatched at least once
        assert server.job(waiting)["state"] == "queued"
        assert server.http.post(f"/api/jobs/{waiting}/cancel").json()["state"] == "cancelled"

        gpu_worker = started_worker(data_dir, "--name", "gpu-box", "--queues", "gpu", "--concurrency", "2",
                                    "--devices", "cuda:0,cuda:1")
        deadline = time.monotonic() + 60
        while not any(w["name"] == "gpu-box" for w in server.http.get("/api/admin/workers").json()):
            assert gpu_worker.poll() is None, (data_dir.parent / "worker.log").read_text()
            assert time.monotonic() < deadline, "the gpu worker did not register"
            time.sleep(0.5)
        workers = {w["name"]: w for w in server.http.get("/api/admin/workers").json()}
        assert workers["gpu-box"]["queues"] == ["gpu"] and workers["gpu-box"]["devices"] == ["cuda:0", "cuda:1"]
        assert workers["gpu-box"]["concurrency"] == 2 and workers["cpu-box"]["concurrency"] == 1
        assert workers["cpu-box"]["queues"] == ["cpu"] and workers["cpu-box"]["devices"] == []

        on_gpu = [submit(server, graph, "iris", epochs=10, batch_size=8, queue="gpu", seed=s) for s in (1, 2)]
        jobs = {job_id: server.wait_for(job_id, lambda j: j["state"] in TERMINAL, timeout=120) for job_id in on_gpu}
        jobs[on_cpu] = cpu_job
        assert all(job["state"] == "succeeded" for job in jobs.values()), jobs
        assert {jobs[j]["worker_id"] for j in on_gpu} == {workers["gpu-box"]["id"]}
        assert jobs[on_cpu]["worker_id"] == workers["cpu-box"]["id"]
        assert server.http.get(f"/api/jobs/{on_cpu}/events").json()[0]["payload"]["message"] == "Queued."

        first, second = (jobs[j] for j in on_gpu)
        assert when(first["started_at"]) < when(second["finished_at"])
        assert when(second["started_at"]) < when(first["finished_at"]), "the two gpu jobs did not run at once"

        seen = sorted(next(line for line in (data_dir / "jobs" / j / "runner.log").read_text().splitlines()
                           if "CUDA_VISIBLE_DEVICES=" in line).split("CUDA_VISIBLE_DEVICES=")[1].split(",")[0]
                      for j in on_gpu)
        assert seen == ["0", "1"], seen  # one device each, never the same one
        assert "CUDA_VISIBLE_DEVICES" not in (data_dir / "jobs" / on_cpu / "runner.log").read_text()

        # A two-rank job takes both devices; the one-device job sent right after it waits until it ends.
        ddp = submit(server, graph, "iris", epochs=3, batch_size=8, queue="gpu", distributed={"nproc_per_node": 2})
        server.wait_for(ddp, lambda j: j["state"] == "running", timeout=60)
        single = submit(server, graph, "iris", epochs=1, queue="gpu")
        too_wide = submit(server, graph, "iris", epochs=1, queue="gpu", distributed={"nproc_per_node": 3})
        ddp_job, single_job, wide_job = (server.wait_for(j, lambda j: j["state"] in TERMINAL, timeout=180)
                                         for j in (ddp, single, too_wide))
        assert ddp_job["state"] == "succeeded" and single_job["state"] == "succeeded", (ddp_job, single_job)
        assert when(single_job["started_at"]) >= when(ddp_job["finished_at"]), "a device was shared"
        ddp_log = (data_dir / "jobs" / ddp / "runner.log").read_text()
        assert "CUDA_VISIBLE_DEVICES=0,1," in ddp_log, ddp_log[-2000:]
        assert wide_job["state"] == "failed"
        assert "runs 3 processes, one per device, but this worker has 2" in wide_job["error"]
        assert "config.distributed.nproc_per_node to at most 2" in wide_job["error"]
    finally:
        if gpu_worker is not None and gpu_worker.poll() is None:
            os.killpg(gpu_worker.pid, signal.SIGTERM)
            gpu_worker.wait(30)
        if server.proc.poll() is None:
            assert server.stop() == 0
        leftover = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True).stdout.split()
        assert not leftover, f"processes left running: {leftover}"


def test_bad_worker_options_are_refused_naming_the_option(tmp_path) -> None:
    for settings, expected in ((Settings(worker_devices="gpu0"), "--devices"), (Settings(worker_queues="GPU!"), "--queues"),
                               (Settings(worker_devices="cuda:0", worker_concurrency=2), "would share a device")):
        with pytest.raises(ValueError, match=expected):
            WorkerOptions.from_settings(settings)
    # The command says so, without a traceback, before it touches the database or the broker.
    done = subprocess.run([sys.executable, "-m", "layerloom.cli", "worker", "--queues", "gpu,GPU!"],
                          env={**os.environ, "LAYERLOOM_DATA_DIR": str(tmp_path / "data")},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "--queues" in done.stderr and "'GPU!'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and not (tmp_path / "data").exists()


def test_defaults_one_job_at_a_time_and_queues_from_devices() -> None:
    assert WorkerOptions.from_settings(Settings()) == WorkerOptions("", 1, [], ["default"])
    assert WorkerOptions.from_settings(Settings(), embedded=True) == WorkerOptions("", 1, [], ["default", "gpu"])
    assert WorkerOptions.from_settings(Settings(worker_devices="cuda:0, cuda:1")) == WorkerOptions(
        "", 2, ["cuda:0", "cuda:1"], ["default", "gpu"])
    assert job_queue({}) == "default" and job_queue({"device": "cuda:1"}) == "gpu"
    assert job_queue({"device": "cuda", "queue": "a100"}) == "a100" and job_queue({"device": "cpu"}) == "default"


def test_a_device_slot_is_the_runners_only_device_and_never_shared(tmp_path) -> None:
    settings = Settings(data_dir=tmp_path)
    for asked, slot, seen in (("cuda:1", "cuda:1", "cuda:0"), ("cuda", "cuda:0", "cuda:0"), ("cpu", "cuda:1", "cpu"),
                              ("cuda:1", None, "cuda:1")):
        job = Job(id="j", graph={}, config={"device": asked}, mapping={}, builtin_dataset="iris")
        write_spec(tmp_path, job, settings, None, 0, devices=[slot] if slot else None)
        assert json.loads((tmp_path / SPEC_FILE).read_text())["config"]["device"] == seen, (asked, slot)
    assert runner_env(["cuda:1"]) == {"CUDA_VISIBLE_DEVICES": "1"} and runner_env(None) == {}
    assert runner_env(["cuda:2", "cuda:GPU-1a2b"]) == {"CUDA_VISIBLE_DEVICES": "2,GPU-1a2b"}

    pool, taken, third = DevicePool(["cuda:0", "cuda:1"]), [], threading.Event()
    with pool.take() as [a], pool.take() as [b]:
        taken += [a, b]
        waiter = threading.Thread(target=lambda: pool.take().__enter__() and third.set())
        waiter.start()
        assert not third.wait(0.3)  # a third runner waits for a free device rather than share one
    assert sorted(taken) == ["cuda:0", "cuda:1"] and third.wait(5)
    waiter.join()


def test_a_distributed_job_takes_one_device_per_rank_all_at_once() -> None:
    assert slots_needed({}) == 1 and slots_needed({"distributed": None}) == 1
    assert slots_needed({"distributed": {}}) == 2  # the config's default nproc_per_node
    assert slots_needed({"distributed": {"nproc_per_node": 4, "nnodes": 2}}) == 4  # per node

    pool = DevicePool(["cuda:0", "cuda:1", "cuda:2"])
    assert pool.shortfall(3) is None and DevicePool([]).shortfall(8) is None
    assert "lower config.distributed.nproc_per_node to at most 3" in pool.shortfall(4)
    with pytest.raises(ValueError, match="this worker has 3 device"):
        pool.take(4).__enter__()

    pair_taken, released = threading.Event(), threading.Event()
    got: list[list[str]] = []

    def wants_two() -> None:
        with pool.take(2) as devices:
            got.append(devices)
            pair_taken.set()
            released.wait(5)

    with pool.take(2) as first:
        assert first == ["cuda:0", "cuda:1"]
        waiter = threading.Thread(target=wants_two)
        waiter.start()
        assert not pair_taken.wait(0.3)  # one device free: a two-rank job waits, holding none of it
        with pool.take() as [single]:  # ...so a one-device job still gets the free one
            assert single == "cuda:2"
        assert not pair_taken.wait(0.2)
    assert pair_taken.wait(5) and got == [["cuda:0", "cuda:1"]]
    released.set()
    waiter.join(5)
    with pool.take(3) as every:  # all returned, lowest first
        assert every == ["cuda:0", "cuda:1", "cuda:2"]


@pytest.mark.slow
def test_a_running_quota_of_two_holds_the_third_job_on_a_live_worker(tmp_path) -> None:
    """The queue policy end to end: a worker with room for three jobs, a user allowed two at once.
    The third waits, queued and saying why, through the reaper's re-dispatches, and runs once one ends."""
    server = Server(tmp_path / "data", LAYERLOOM_WORKER_CONCURRENCY="3", LAYERLOOM_QUOTA_MAX_RUNNING_JOBS="2")
    try:
        server.wait_ready()
        graph = load_example("iris_mlp")
        ids = [submit(server, graph, "iris", epochs=epochs, batch_size=8) for epochs in (60, 60, 30)]
        most_running, deadline = 0, time.monotonic() + 180
        while True:
            jobs = [server.job(job_id) for job_id in ids]
            most_running = max(most_running, sum(j["state"] in ("running", "cancelling") for j in jobs))
            if all(j["state"] in TERMINAL for j in jobs) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert [j["state"] for j in jobs] == ["succeeded"] * 3, jobs
        assert most_running == 2
        # Whichever job the worker took last (on a loaded machine not always the last submitted) started
        # only once one of the other two had ended, and said why it waited.
        *first, last = sorted(jobs, key=lambda j: when(j["started_at"]))
        assert when(last["started_at"]) >= min(when(j["finished_at"]) for j in first), jobs
        messages = [e["payload"].get("message", "") for e in server.http.get(f"/api/jobs/{last['id']}/events").json()]
        assert any(m.startswith("Waits for the quota max_running_jobs: 2 of your jobs") for m in messages), messages
    finally:
        server.stop()
