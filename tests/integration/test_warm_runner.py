"""The warm runner (``jobs/process.py``): a runner started before its job behaves, once handed the
job, exactly as a cold one — own process group, command line naming the job, the job's log, the
same events and exit codes, cancel and kill — and never outlives the process that started it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from layerloom.jobs.process import RunnerProcess, WarmRunner, python_module_argv
from layerloom.jobs.runner import EXIT_CANCELLED, EXIT_SUCCEEDED
from layerloom.jobs.supervisor import RUNNER_MODULE

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_startup import write_csv_job  # noqa: E402  (one job fixture for both files)

pytestmark = pytest.mark.slow  # each test starts runners that import torch


def job_runner(job: Path, warm: WarmRunner | None) -> RunnerProcess:
    return RunnerProcess(python_module_argv(RUNNER_MODULE, str(job)), job / "runner.log",
                         env={**os.environ, "OMP_NUM_THREADS": "1"}, warm=warm)


def pids_named(pattern: str) -> list[int]:
    out = subprocess.run(["pgrep", "-f", pattern], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_a_handed_job_runs_as_a_cold_one_would(tmp_path: Path) -> None:
    warm = WarmRunner(RUNNER_MODULE, tmp_path / "jobs", env={**os.environ, "OMP_NUM_THREADS": "1"})
    helper = threading.Thread(target=warm.refill)  # not the main thread: it would take PDEATHSIG with it
    helper.start()
    helper.join()
    assert warm.proc is None
    warm.refill()
    assert warm.proc is not None
    warm_pid = warm.proc.pid
    assert os.getpgid(warm_pid) == warm_pid  # its own process group, as a cold runner

    job = tmp_path / "jobs" / "job-0123"
    write_csv_job(job)
    runner = job_runner(job, warm)
    runner.start()
    assert runner.pid == warm_pid and warm.proc is None
    events: list[dict] = []
    for event in runner.events():
        if not events:  # it has the job: ps names it as it would a cold runner
            assert pids_named(f"layerloom.jobs.runner .*{job.name}") == [warm_pid]
        events.append(event)
    assert runner.wait() == EXIT_SUCCEEDED
    progress = [e for e in events if e["type"] in ("step", "epoch")]
    assert progress[0]["type"] == "step" and [e["epoch"] for e in progress if e["type"] == "epoch"] == [1, 2]
    assert events[-1]["type"] == "status" and events[-1]["status"] == "succeeded"
    assert (job / "run" / "results.json").is_file()
    assert (job / "runner.log").exists()

    warm.refill()  # the next job's runner
    assert warm.proc is not None and warm.proc.pid != warm_pid
    next_pid = warm.proc.pid
    warm.close()
    assert warm.proc is None and not pids_named(str(tmp_path / "jobs"))
    with pytest.raises(ProcessLookupError):
        os.kill(next_pid, 0)


def test_cancel_and_kill_reach_a_warm_runner_like_a_cold_one(tmp_path: Path) -> None:
    warm = WarmRunner(RUNNER_MODULE, tmp_path / "jobs", env={**os.environ, "OMP_NUM_THREADS": "1"})
    outcomes = []
    for stop in ("cancel", "kill"):
        warm.refill()
        job = tmp_path / "jobs" / f"job-{stop}"
        write_csv_job(job, epochs=100_000)
        runner = job_runner(job, warm)
        runner.start()
        for event in runner.events():
            if event["type"] in ("step", "epoch"):
                break  # training
        if stop == "cancel":
            runner.stop(grace_seconds=5)  # SIGTERM to the group: the trainer stops at the next step
        else:
            runner.signal_group(signal.SIGKILL)
        outcomes.append(runner.wait(timeout=30))
    assert outcomes == [EXIT_CANCELLED, -signal.SIGKILL]
    warm.close()


def test_a_dead_warm_runner_is_replaced_by_a_cold_start(tmp_path: Path) -> None:
    warm = WarmRunner(RUNNER_MODULE, tmp_path / "jobs", env={**os.environ, "OMP_NUM_THREADS": "1"})
    warm.refill()
    assert warm.proc is not None
    os.killpg(warm.proc.pid, signal.SIGKILL)
    warm.proc.wait()
    job = tmp_path / "jobs" / "job-cold"
    write_csv_job(job)
    runner = job_runner(job, warm)
    runner.start()
    list(runner.events())
    assert runner.wait() == EXIT_SUCCEEDED


def test_a_warm_runner_dies_with_the_worker_that_started_it(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG: a worker killed with SIGKILL takes its waiting runner with it."""
    worker = textwrap.dedent(f"""
        import sys, time
        from pathlib import Path
        from layerloom.jobs.process import WarmRunner
        warm = WarmRunner("layerloom.jobs.runner", Path({str(tmp_path / "jobs")!r}))
        warm.refill()
        print(warm.proc.pid, flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", worker], stdout=subprocess.PIPE, text=True)
    warm_pid = int(proc.stdout.readline())
    os.kill(warm_pid, 0)  # alive while the worker is
    proc.kill()
    proc.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and pids_named(str(tmp_path / "jobs")):
        time.sleep(0.1)
    assert not pids_named(str(tmp_path / "jobs"))
