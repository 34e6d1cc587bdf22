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
