"""The runner: one training run in its own process, ``python -m layerloom.jobs.runner JOB_DIR``.

It reads ``JOB_DIR/spec.json`` (written by the supervisor: graph, dataset reference, config, the
last epoch already logged), trains into ``JOB_DIR/run`` — resuming from the checkpoint there when
a previous attempt left one — and prints every training event as one JSON line on stdout for the
supervisor to relay. SIGTERM asks the trainer to stop at the next step (cooperative cancel).

Exit codes: 0 succeeded, 3 cancelled, 1 failed (the failure is also a ``status`` event).

A warm runner, ``python -m layerloom.jobs.runner --warm JOBS_DIR``, is started before its job: it imports
torch, ``torch._dynamo`` (the first optimizer imports it) and the trainer, then waits for one JSON
line on stdin, ``{"args": [JOB_DIR], "title": COMMAND_LINE, "stderr": LOG}``. From then on it is the
cold runner of that job: the same command line (for ``ps``), the same log, events and exit codes. The
worker started it in its own process group with the same parent-death signal (``jobs/process.py``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

EXIT_SUCCEEDED, EXIT_FAILED, EXIT_CANCELLED = 0, 1, 3
SPEC_FILE = "spec.json"
RUN_DIR = "run"
WARM_FLAG = "--warm"


class JsonLinesOut:
    """A training callback that prints each event as one JSON line (flushed: the supervisor tails it)."""

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stdout

    def on_event(self, event: dict[str, Any]) -> None:
        self.stream.write(json.dumps(event, separators=(",", ":")) + "\n")
        self.stream.flush()

    def on_checkpoint(self, epoch: int, path: Path) -> None:
        """Epoch ``epoch``'s checkpoint is saved: hard-link it as ``checkpoint-<epoch>.pt`` (the next
        epoch's save replaces checkpoint.pt, not this link) and tell the supervisor, which stores it
        before it relays the epoch's event, then removes the link."""
        link = path.with_name(checkpoint_copy_name(epoch))
        link.unlink(missing_ok=True)
        try:
            os.link(path, link)
        except OSError:  # a filesystem without hard links
            import shutil

            shutil.copyfile(path, link)
        self.on_event({"type": "checkpoint", "epoch": epoch, "file": link.name})


def checkpoint_copy_name(epoch: int) -> str:
    return f"checkpoint-{int(epoch)}.pt"


def load_dataset(reference: dict[str, Any]):
    """The dataset a job names: a built-in by name, or an upload the service stored and checked."""
    from ..store.datasets import open_builtin, open_stored_dataset
    from ..store.kinds import DatasetKind

    if reference["kind"] == "builtin":  # "cache": the worker's copies (older specs have none)
        return open_builtin(reference["name"], Path(reference["cache"]) if reference.get("cache") else None)
    return open_stored_dataset(DatasetKind(reference["kind"]), reference["path"], reference.get("options") or {},
                               name=reference.get("name", "upload"), max_bytes=reference["max_bytes"])


def replay_unlogged_epochs(run_dir: Path, last_epoch_logged: int, out: JsonLinesOut) -> None:
    """A previous attempt may have saved epoch k's checkpoint and died before its epoch event reached
    the supervisor: send those epochs' events from the checkpoint's history, so none goes missing."""
    from ..train import CHECKPOINT_FILE, load_checkpoint

    path = run_dir / CHECKPOINT_FILE
    if not path.exists():
        return
    for row in load_checkpoint(path).get("history", []):
        epoch = int(row.get("epoch", 0))
        if epoch > last_epoch_logged:
            metrics = {k: v for k, v in row.items() if k != "epoch"}
            out.on_event({"seq": -1, "type": "epoch", "epoch": epoch, "step": -1, "metrics": metrics,
                          "time": 0.0, "replayed": True})


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    cancel = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: cancel.set())
    if argv[:1] == [WARM_FLAG]:
        warm_up()
        job_args = wait_for_job()
        if job_args is None:
            return EXIT_SUCCEEDED  # the worker closed the pipe: no job came
        argv = job_args
    return run(Path(argv[0]), cancel)


def warm_up() -> None:
    """Import what jobs need, before there is a job."""
    import importlib

    import torch._dynamo  # noqa: F401  (torch.optim imports it on the first optimizer: 1-2 s)

    from .. import data, train  # noqa: F401
    from ..graph import builder  # noqa: F401
    from ..store import datasets  # noqa: F401

    for module in ("sklearn.datasets", "sklearn.model_selection"):  # built-in datasets (a second more)
        importlib.import_module(module)
    train_a_tiny_model()


def train_a_tiny_model() -> None:
    """One epoch of a one-layer model on eight samples: the first graph build, forward, backward,
    optimizer step and evaluation each pay one-time costs (tracing, lazy imports, kernel set-up)
    that would otherwise delay the first job's first point."""
    import numpy as np

    from ..data import Dataset
    from ..train import train

    graph = {"format": "layerloom.graph", "version": 1, "name": "warm-up",
             "nodes": [{"id": "x", "type": "Input", "params": {"shape": [2]}},
                       {"id": "d", "type": "Dense", "params": {"units": 2, "activation": "softmax"}},
                       {"id": "y", "type": "Output", "params": {"loss": "sparse_categorical_crossentropy",
                                                                "metrics": ["accuracy"]}}],
             "edges": [{"source": "x", "target": "d"}, {"source": "d", "target": "y"}]}
    split = {"x": np.zeros((8, 2), np.float32), "y": np.arange(8) % 2}
    data = Dataset.from_arrays("warm-up", {"train": split, "valid": split})
    train(graph, data, {"epochs": 1, "batch_size": 4, "device": "cpu"})


def wait_for_job() -> list[str] | None:
    """Block until the worker hands over a job and take it on: its log, its command line; returns
    its arguments. None when stdin closes first."""
    line = sys.stdin.readline()
    if not line.strip():
        return None
    job = json.loads(line)
    log = os.open(job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, sys.stderr.fileno())  # warnings and tracebacks go to the job's own log from here
    os.close(log)
    import setproctitle

    setproctitle.setproctitle(job["title"])
    return [str(arg) for arg in job["args"]]


def run(job_dir: Path, cancel: threading.Event) -> int:
    spec = json.loads((job_dir / SPEC_FILE).read_text(encoding="utf-8"))
    if "CUDA_VISIBLE_DEVICES" in os.environ:  # the worker's device slot for this run (jobs/devices.py)
        print(f"runner: CUDA_VISIBLE_DEVICES={os.environ['CUDA_VISIBLE_DEVICES']}, "
              f"device {(spec.get('config') or {}).get('device', 'auto')}", file=sys.stderr, flush=True)
    ranks = _ranks_to_launch(spec, job_dir)
    if ranks is not None:  # config.distributed: this process becomes the launcher of the ranks
        return ranks()
    out = JsonLinesOut()
    run_dir = job_dir / RUN_DIR
    from ..train import CHECKPOINT_FILE, Trainer

    try:
        resume = (run_dir / CHECKPOINT_FILE).exists()
        if resume:
            replay_unlogged_epochs(run_dir, int(spec.get("last_epoch_logged", 0)), out)
        trainer = Trainer(spec["graph"], load_dataset(spec["dataset"]), spec.get("config") or {}, out_dir=run_dir,
                          callbacks=[out], cancel=cancel, resume=resume,
                          init_weights=spec.get("init_weights_path"))
    except Exception as err:  # before training: the trainer has not reported anything yet
        out.on_event({"seq": -1, "type": "status", "status": "failed", "epoch": 0, "step": 0, "metrics": {},
                      "time": 0.0, "message": _describe(err)})
        return EXIT_FAILED
    try:
        result = trainer.run()
    except Exception:  # the trainer has already sent its "failed" status event
        return EXIT_FAILED
    if result.status == "cancelled":
        return EXIT_CANCELLED
    if trainer.dist.writes:  # rank 0 of a distributed run, or the only process
        # The graph and data as trained: standardization's nodes, and the validation rows validation_split held out.
        write_results(run_dir, result.model, trainer.run_graph, trainer.training_dataset, trainer.config)
    return EXIT_SUCCEEDED


def _ranks_to_launch(spec: dict[str, Any], job_dir: Path):
    """For a distributed job not yet launched (no RANK in the environment): what launches its ranks
    (jobs/ranks.py on one node, torchrun on several), or None for a one-process job."""
    wanted = (spec.get("config") or {}).get("distributed")
    if "RANK" in os.environ or not isinstance(wanted, dict):
        return None
    from ..train.config import TrainConfig

    try:
        distributed = TrainConfig.model_validate(spec.get("config") or {}).distributed
    except ValueError:
        return None  # the trainer reports the config error as usual
    if distributed is None or distributed.nproc_per_node * distributed.nnodes <= 1:
        return None
    if distributed.nnodes == 1:
        from .ranks import launch

        return lambda: launch(job_dir, distributed.nproc_per_node, EXIT_CANCELLED)
    from ..train.distributed import launch_command

    def through_torchrun() -> int:
        command = launch_command(distributed.nproc_per_node, distributed.nnodes, [str(job_dir)])
        sys.stdout.flush()
        os.execv(command[0], command)  # the same process: its group and parent-death signal stay
        return EXIT_FAILED  # not reached
    return through_torchrun


def write_results(run_dir: Path, model, graph: dict[str, Any], dataset, config) -> None:
    """The confusion matrices, predicted-vs-true pairs and sample predictions the browser shows."""
    from ..train.files import atomic_write_json
    from ..train.results import RESULTS_FILE, prediction_report

    atomic_write_json(run_dir / RESULTS_FILE, prediction_report(model, graph, dataset, config))


def _describe(err: Exception) -> str:
    problems = getattr(err, "problems", None) or getattr(err, "issues", None)
    if problems:
        messages = [p["message"] if isinstance(p, dict) else getattr(p, "message", str(p)) for p in problems]
        return "; ".join(messages[:10])
    return str(err) or type(err).__name__


if __name__ == "__main__":
    sys.exit(main())
