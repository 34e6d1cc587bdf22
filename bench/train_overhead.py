"""Training-loop overhead: Layerloom's trainer against a minimal hand-written PyTorch loop.

Each case trains the same architecture on the same in-memory data twice per round: once through
``layerloom.train.train`` (graph from examples/, its metrics included) and once through a plain
``nn.Module`` with a loop that slices index batches from a permutation, steps Adam and accumulates
the epoch loss on the device (one ``.item()`` per epoch). The trainer also computes the head's
metrics exactly over the epoch (as the graph asks); a third contender, "trainer, loss only", runs
the same graph with its metrics removed, i.e. the same work as the hand loop. The trainer steps
Adam with PyTorch's fused kernel (the same update up to float rounding); a fourth contender, "hand,
fused", is the hand loop with ``fused=True`` too, to show what is left once that is equal. Rounds
rotate which goes first. Printed: the median samples/s of each and the median of its per-round ratios to the
hand loop (the runs of a round share the machine's load, so pairing cancels most of its noise).
Goal: trainer >= 0.97 x hand loop.

The time measured is the training loop only: for the trainer, from its "running" status event
(model built, data on the device) to its last epoch event; for the hand loop, the epochs loop.
Neither has validation, checkpoints or a test pass. ``--clock cpu`` measures process CPU time
instead of wall time: on a shared machine it keeps other processes' load out of the comparison
(use it with ``--threads 1``, where CPU time is the time the loop ran).

    .venv/bin/python bench/train_overhead.py [--repeats 7] [--threads 1] [--clock wall|cpu] [--cases ...]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from layerloom.data import Dataset, load_builtin
from layerloom.train import Callback, train

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BATCH_SIZE = 32


class SeedMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.d1, self.d2 = nn.Linear(100, 64), nn.Linear(64, 10)

    def forward(self, x):
        return self.d2(torch.relu(self.d1(x)))


class RegressionMLP(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.d1, self.d2, self.d3 = nn.Linear(10, 64), nn.Linear(64, 32), nn.Linear(32, 1)

    def forward(self, x):
        return self.d3(torch.relu(self.d2(torch.relu(self.d1(x)))))


class ToyResNet(nn.Module):
    """The Keras functional-API guide's toy ResNet, as examples/toy_resnet.json builds it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv2d(3, 32, 3), nn.Conv2d(32, 64, 3)
        self.pool = nn.MaxPool2d(3)
        self.block2 = nn.ModuleList([nn.Conv2d(64, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)])
        self.block3 = nn.ModuleList([nn.Conv2d(64, 64, 3, padding=1), nn.Conv2d(64, 64, 3, padding=1)])
        self.conv3 = nn.Conv2d(64, 64, 3)
        self.dense, self.dropout, self.classifier = nn.Linear(64, 256), nn.Dropout(0.5), nn.Linear(256, 10)

    def forward(self, x):
        x = self.pool(torch.relu(self.conv2(torch.relu(self.conv1(x)))))
        for block in (self.block2, self.block3):
            x = torch.relu(block[1](torch.relu(block[0](x)))) + x
        x = torch.relu(self.conv3(x)).mean(dim=(2, 3))
        return self.classifier(self.dropout(torch.relu(self.dense(x))))


@dataclass
class Case:
    name: str
    graph: str
    make_data: Callable[[], Dataset]
    make_module: Callable[[], nn.Module]
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    epochs: int


def random_classification(n: int, shape: tuple[int, ...]) -> Dataset:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, *shape), dtype=np.float32)
    y = rng.integers(0, 10, n)
    return Dataset.from_arrays("random", {"train": {"x": x, "y": y}})


def diabetes_train_only() -> Dataset:
    train_split = load_builtin("diabetes").splits["train"]
    return Dataset.from_arrays("diabetes", {"train": dict(train_split)}, kinds={"x": "features", "y": "values"})


CASES = {
    "seed_mlp": Case("seed MLP, 1,000 x 100, batch 32", "seed_mlp.json",
                     lambda: random_classification(1000, (100,)), SeedMLP, F.cross_entropy, epochs=10),
    "diabetes": Case("regression MLP, diabetes, batch 32", "regression_mlp.json",
                     diabetes_train_only, RegressionMLP, F.mse_loss, epochs=30),
    "toy_resnet": Case("toy ResNet, 512 x 3x32x32, batch 32", "toy_resnet.json",
                       lambda: random_classification(512, (3, 32, 32)), ToyResNet, F.cross_entropy, epochs=1),
}


clock = time.perf_counter  # or time.process_time, chosen by --clock


class LoopTimer(Callback):
    """From the "running" status event to the last epoch event."""

    def __init__(self) -> None:
        self.start = self.end = 0.0

    def on_event(self, event):
        if event["type"] == "status" and event["status"] == "running":
            self.start = clock()
        elif event["type"] == "epoch":
            self.end = clock()


def run_trainer(case: Case, graph: dict, data: Dataset, seed: int) -> float:
    timer = LoopTimer()
    config = {"epochs": case.epochs, "batch_size": BATCH_SIZE, "seed": seed, "evaluate_test": False,
              "optimizer": {"name": "adam", "lr": 1e-3}}
    train(graph, data, config, callbacks=[timer])
    return timer.end - timer.start


def run_hand_loop(case: Case, data: Dataset, seed: int, fused: bool = False) -> float:
    torch.manual_seed(seed)
    model = case.make_module()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, fused=fused or None)
    x, y = (torch.from_numpy(data.splits["train"][name]) for name in ("x", "y"))
    n = len(x)
    start = clock()
    for epoch in range(case.epochs):
        model.train()
        order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        total = torch.zeros(())
        for first in range(0, n, BATCH_SIZE):
            index = order[first:first + BATCH_SIZE]
            loss = case.loss(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total += loss.detach() * len(index)
        (total / n).item()
    return clock() - start


def without_metrics(graph: dict) -> dict:
    """The same graph with its heads' metrics removed: the trainer then does what the hand loop does."""
    nodes = [{**n, "params": {**n.get("params", {}), "metrics": []}} if n["type"] == "Output" else n
             for n in graph["nodes"]]
    return {**graph, "nodes": nodes}


def measure(case: Case, repeats: int) -> dict[str, tuple[float, float]]:
    """Median samples/s per contender, and the median of its per-round ratios to the hand loop."""
    graph = json.loads((EXAMPLES / case.graph).read_text())
    data = case.make_data()
    samples = data.num_samples("train") * case.epochs
    contenders = {
        "hand": lambda seed: run_hand_loop(case, data, seed),
        "trainer": lambda seed: run_trainer(case, graph, data, seed),
        "trainer, loss only": lambda seed: run_trainer(case, without_metrics(graph), data, seed),
        "hand, fused": lambda seed: run_hand_loop(case, data, seed, fused=True),
    }
    for run in contenders.values():
        run(0)  # warm-up: first-call costs of every path
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for round_ in range(repeats):
        first = round_ % len(names)
        for name in names[first:] + names[:first]:  # rotate who goes first
            rates[name].append(samples / contenders[name](round_))
    return {name: (statistics.median(r), statistics.median(t / h for t, h in zip(r, rates["hand"])))
            for name, r in rates.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7, help="rounds per case (medians reported)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: PyTorch's choice)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="wall time, or process CPU time")
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated subset of {', '.join(CASES)}")
    args = parser.parse_args()
    global clock
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.clock} clock, "
          f"median of {args.repeats} rounds; samples/s (ratio to the hand loop)")
    print(f"{'case':<38} {'hand loop':>10} {'trainer':>17} {'trainer, loss only':>19} {'hand, fused Adam':>17}")
    worst = float("inf")
    for key in args.cases.split(","):
        case = CASES[key]
        results = measure(case, args.repeats)
        worst = min(worst, results["trainer"][1])
        cells = [f"{rate:>8,.0f} ({ratio:.3f})" for rate, ratio in
                 (results["trainer"], results["trainer, loss only"], results["hand, fused"])]
        print(f"{case.name:<38} {results['hand'][0]:>10,.0f} {cells[0]:>17} {cells[1]:>19} {cells[2]:>17}", flush=True)
    print(f"lowest trainer ratio {worst:.3f} (goal >= 0.97): {'OK' if worst >= 0.97 else 'BELOW GOAL'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
