"""Several processes for one job: the trainer under torchrun (gloo, 2 CPU processes) against one
process with the same global batch, on the two-head example."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from layerloom.data import Dataset, load_builtin
from layerloom.train import train
from layerloom.train.distributed import launch_command

ROOT = Path(__file__).resolve().parents[2]
CONFIG = {"epochs": 3, "batch_size": 64, "seed": 3, "optimizer": {"name": "sgd", "lr": 0.05}, "log_every_steps": 5}

WORKER = """
import json, sys
import numpy as np
from layerloom.data import Dataset, load_builtin
from layerloom.train import train
from layerloom.train.distributed import Distributed
seen = []  # samples this rank trained on, per batch
shard = Distributed.shard
def counting_shard(self, batches):
    for size, inputs, targets in shard(self, batches):
        seen.append(size)
        yield size, inputs, targets
Distributed.shard = counting_shard
digits = load_builtin("digits")
splits = {name: {"x": a["x"], "digit": a["y"], "ink": a["x"].mean(axis=(1, 2, 3))[:, None]} for name, a in digits.splits.items()}
data = Dataset.from_arrays("digits-ink", splits, class_names={"digit": digits.class_names["y"]},
                           kinds={"x": "features", "digit": "class_labels", "ink": "values"})
events = []
class Keep:
    def on_event(self, event):
        events.append(event)
result = train(json.load(open(sys.argv[1])), data, json.loads(sys.argv[2]), out_dir=sys.argv[3], callbacks=[Keep()])
import os
with open(os.path.join(sys.argv[3], f"events-rank{os.environ['RANK']}.json"), "w") as fh:
    json.dump({"events": events, "seen": seen}, fh)
"""


def digits_with_ink() -> Dataset:
    digits = load_builtin("digits")
    splits = {name: {"x": a["x"], "digit": a["y"], "ink": a["x"].mean(axis=(1, 2, 3))[:, None]}
              for name, a in digits.splits.items()}
    return Dataset.from_arrays("digits-ink", splits, class_names={"digit": digits.class_names["y"]},
                               kinds={"x": "features", "digit": "class_labels", "ink": "values"})


def curve(history: list[dict]) -> np.ndarray:
    keys = ["loss", "digit/loss", "ink/loss", "digit/accuracy", "ink/mae", "val_loss", "val_digit/accuracy"]
    return np.array([[epoch[k] for k in keys] for epoch in history])


@pytest.mark.slow
def test_two_processes_train_the_loss_curve_of_one_with_the_same_global_batch(tmp_path):
    graph = ROOT / "examples" / "two_head.json"
    single = train(json.loads(graph.read_text()), digits_with_ink(), CONFIG)
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    out = tmp_path / "run"
    out.mkdir()
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script),
               str(graph), json.dumps(CONFIG), str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "backend"), "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    history = json.loads((out / "history.json").read_text())
    print(f"2 ranks vs 1 process: largest difference {np.abs(curve(history) - curve(single.history)).max():.2e}")
    np.testing.assert_allclose(curve(history), curve(single.history), atol=1e-4, rtol=0)
    # Rank 0 reports, rank 1 does not; both ran every epoch.
    rank0, rank1 = (json.loads((out / f"events-rank{r}.json").read_text()) for r in (0, 1))
    # Each rank trained on its half of every batch: together, each epoch's samples exactly once.
    train_size = digits_with_ink().num_samples("train")
    assert sum(rank0["seen"]) + sum(rank1["seen"]) == 3 * train_size
    assert abs(sum(rank0["seen"]) - sum(rank1["seen"])) <= 3 and max(rank0["seen"]) == 32
    rank0, rank1 = rank0["events"], rank1["events"]
    assert [e["epoch"] for e in rank0 if e["type"] == "epoch"] == [1, 2, 3] and rank1 == []
    assert any("over 2 processes" in e["message"] for e in rank0 if e["type"] == "log")
    assert (out / "checkpoint.pt").exists() and (out / "manifest.json").exists()


def test_launch_command_for_one_node_and_for_several(monkeypatch):
    one = launch_command(4, 1, ["/jobs/j1"])
    assert one[1:3] == ["-m", "torch.distributed.run"] and "--standalone" in one
    assert one[-3:] == ["-m", "layerloom.jobs.runner", "/jobs/j1"]
    monkeypatch.delenv("LAYERLOOM_RDZV_ENDPOINT", raising=False)
    with pytest.raises(ValueError, match="LAYERLOOM_RDZV_ENDPOINT"):
        launch_command(2, 3, ["/jobs/j1"])
    monkeypatch.setenv("LAYERLOOM_RDZV_ENDPOINT", "10.0.0.5:29400")
    monkeypatch.setenv("LAYERLOOM_NODE_RANK", "2")
    several = launch_command(2, 3, ["/jobs/j1"])
    assert "--rdzv-endpoint=10.0.0.5:29400" in several and "--node-rank=2" in several and "--standalone" not in several


# ---- the job's runner: ranks, kill -9, retry, cancel ---------------------------------------------

import os  # noqa: E402
import signal  # noqa: E402
import time  # noqa: E402


def start_runner(job_dir: Path) -> subprocess.Popen:
    """As the supervisor starts it: its own process group, events on stdout."""
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "backend"), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "layerloom.jobs.runner", str(job_dir)], stdout=subprocess.PIPE,
                            stderr=open(job_dir / "runner.log", "ab"), text=True, env=env, start_new_session=True)


def rank_pids(launcher: subprocess.Popen) -> list[int]:
    children = Path(f"/proc/{launcher.pid}/task/{launcher.pid}/children").read_text().split()
    return [int(c) for c in children]


def wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


def job(tmp_path: Path, epochs: int) -> Path:
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    config = {"epochs": epochs, "batch_size": 32, "seed": 1, "distributed": {"nproc_per_node": 2, "nnodes": 1}}
    (job_dir / "spec.json").write_text(json.dumps({"graph": json.loads((ROOT / "examples" / "digits_cnn.json").read_text()),
                                                   "dataset": {"kind": "builtin", "name": "digits"},
                                                   "config": config, "last_epoch_logged": 0}))
    return job_dir


def events_until(proc: subprocess.Popen, stop) -> list[dict]:
    events = []
    for line in proc.stdout:
        if line.startswith("{"):
            events.append(json.loads(line))
            if stop(events[-1]):
                break
    return events


@pytest.mark.slow
def test_kill_9_of_one_rank_fails_the_attempt_and_the_retry_resumes(tmp_path):
    job_dir = job(tmp_path, epochs=3)
    first = start_runner(job_dir)
    events = events_until(first, lambda e: e["type"] == "epoch" and e["epoch"] == 1)
    assert events[-1]["epoch"] == 1
    assert wait_for(lambda: (job_dir / "run" / "checkpoint.json").exists(), 30)
    ranks = rank_pids(first)
    assert len(ranks) == 2
    os.kill(ranks[1], signal.SIGKILL)
    assert first.wait(30) == -signal.SIGKILL  # what the supervisor retries as a lost runner
    assert wait_for(lambda: not any(alive(p) for p in ranks), 10)
    retry = start_runner(job_dir)
    rest = events_until(retry, lambda e: e["type"] == "status" and e["status"] in ("succeeded", "failed"))
    assert retry.wait(120) == 0, (job_dir / "runner.log").read_text()[-3000:]
    assert any("Resumed from the checkpoint of epoch" in e.get("message", "") for e in rest)
    assert [e["epoch"] for e in rest if e["type"] == "epoch"][-1] == 3 and rest[-1]["status"] == "succeeded"
    assert (job_dir / "run" / "manifest.json").exists()


@pytest.mark.slow
def test_cancel_ends_every_rank_within_5_seconds(tmp_path):
    job_dir = job(tmp_path, epochs=200)
    runner = start_runner(job_dir)
    events_until(runner, lambda e: e["type"] in ("step", "epoch"))
    ranks = rank_pids(runner)
    assert len(ranks) == 2
    started = time.monotonic()
    os.killpg(runner.pid, signal.SIGTERM)  # the supervisor's cancel
    code = runner.wait(10)
    assert wait_for(lambda: not any(alive(p) for p in ranks), 5)
    elapsed = time.monotonic() - started
    print(f"cancel: every rank ended {elapsed:.2f} s after SIGTERM")
    assert code == 3 and elapsed < 5


GATHER_WORKER = """
import json, os, sys
import torch
import torch.distributed as dist
from layerloom.train.distributed import across_ranks
from layerloom.train.metrics import ROCAUC, OnProbabilities, R2Score

dist.init_process_group("gloo")
rank = dist.get_rank()
torch.manual_seed(0)
y, pred = torch.randn(37, 2) * 3 + 5, torch.randn(37, 2) * 3 + 5
scores, labels = torch.randn(53), (torch.rand(53) > 0.4).float()
mine = slice(0, 30) if rank == 0 else slice(30, None)  # uneven shares; rank 1 gets 7 and 23 samples
r2, auc = R2Score(), OnProbabilities(ROCAUC(), "sigmoid")
for start in range(mine.start, mine.stop or 37, 4):  # several updates per rank
    stop = min(start + 4, mine.stop or 37)
    r2.update(pred[start:stop], y[start:stop])
auc.update(scores[mine.start:(mine.stop or 53)], labels[mine.start:(mine.stop or 53)])
whole_r2, whole_auc = R2Score(), ROCAUC()
whole_r2.update(pred, y)
whole_auc.update(torch.sigmoid(scores), labels)
report = {"rank": rank, "r2": float(across_ranks(r2, torch.device("cpu")).result()),
          "auc": float(across_ranks(auc, torch.device("cpu")).result()), "mine_r2": float(r2.result()),
          "whole_r2": float(whole_r2.result()), "whole_auc": float(whole_auc.result())}
# A file per rank: the ranks share one stdout, where their lines can interleave.
with open(os.path.join(sys.argv[1], f"rank{rank}.json"), "w") as out:
    json.dump(report, out)
dist.destroy_process_group()
"""


def test_r2_and_auc_are_those_of_every_ranks_samples_together(tmp_path):
    script = tmp_path / "gather.py"
    script.write_text(GATHER_WORKER)
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node=2", str(script),
               str(tmp_path)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=ROOT,
                            env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "backend"), "OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr[-4000:]
    reports = [json.loads(path.read_text()) for path in sorted(tmp_path.glob("rank*.json"))]
    assert sorted(r["rank"] for r in reports) == [0, 1]
    for report in reports:
        assert abs(report["r2"] - report["whole_r2"]) < 1e-12, report
        assert abs(report["auc"] - report["whole_auc"]) < 1e-12, report
        assert abs(report["mine_r2"] - report["whole_r2"]) > 1e-6  # a single shard would not have passed
