"""The ``layerloom train`` and ``layerloom datasets`` subcommands.

    layerloom train examples/digits_cnn.json --data digits --epochs 10 --out runs/digits
    layerloom datasets

Exit codes of ``train``: 0 trained, 1 training failed (e.g. the loss went NaN), 2 bad input (graph,
data, options, or a graph that does not fit the data; one ``error:`` line per problem), 130
cancelled with Ctrl-C (the run stops after the current step; ``--resume`` continues it).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from pydantic import ValidationError

MAX_FILE_BYTES = 20 * 1024 * 1024  # graph and config files
EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED = 1, 2, 130
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop", "adagrad")
SCHEDULES = ("none", "step", "cosine", "reduce_on_plateau")


class BadInput(Exception):
    """One or more problems with what the user gave; each line is printed as ``error: ...``."""

    def __init__(self, *lines: str) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def add_train_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``train`` and ``datasets`` on the main parser's subparsers."""
    train = subparsers.add_parser("train", help="train a graph on a dataset and save the weights",
                                  description="Train a graph on a dataset; progress per epoch, a closing metrics "
                                              "table, and weights, history and manifest in --out.")
    train.add_argument("graph", help="path to a graph JSON file")
    train.add_argument("--data", required=True,
                       help="a built-in dataset (see `layerloom datasets`; split with seed 0) or a .csv / .npz file")
    train.add_argument("--out", help="run directory for checkpoints and artifacts (default: runs/<graph name>)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its last checkpoint")
    train.add_argument("--config", help="JSON file of training options (TrainConfig); the flags below override it")
    train.add_argument("--epochs", type=int)
    train.add_argument("--batch-size", type=int)
    train.add_argument("--lr", type=float, help="learning rate (default: Keras's for the optimizer)")
    train.add_argument("--optimizer", choices=OPTIMIZERS)
    train.add_argument("--weight-decay", type=float)
    train.add_argument("--momentum", type=float, help="sgd / rmsprop momentum")
    train.add_argument("--schedule", choices=SCHEDULES, help="learning-rate schedule, stepped per epoch")
    train.add_argument("--seed", type=int)
    train.add_argument("--valid-split", type=float, help="fraction of train held out for validation")
    train.add_argument("--early-stopping", type=int, metavar="PATIENCE",
                       help="stop after PATIENCE epochs without improvement of --monitor, keeping the best weights")
    train.add_argument("--monitor", help="quantity for early stopping and reduce_on_plateau (default val_loss)")
    train.add_argument("--clip-norm", type=float, help="clip the gradient norm to this value")
    train.add_argument("--device", help="auto (default), cpu, cuda or cuda:N")
    train.add_argument("--amp", action="store_true", help="mixed precision (CUDA only)")
    train.add_argument("--tensorboard", action="store_true",
                       help="also write TensorBoard event files to OUT/tensorboard (tensorboard --logdir OUT)")
    train.add_argument("--standardize", action="store_true",
                       help="standardize float feature vectors with the training split's mean and std (docs/datasets.md)")
    train.add_argument("--map", action="append", default=[], metavar="NODE=ARRAY",
                       help="feed a graph Input or head from a differently named array (repeatable)")
    train.set_defaults(func=cmd_train)

    datasets = subparsers.add_parser("datasets", help="list the built-in datasets")
    datasets.add_argument("--json", action="store_true", help="print JSON instead of a table")
    datasets.set_defaults(func=cmd_datasets)


def cmd_datasets(args: argparse.Namespace) -> int:
    from .data import BUILTIN_DATASETS

    infos = list(BUILTIN_DATASETS.values())
    if args.json:
        print(json.dumps([{"name": i.name, "task": i.task, "description": i.description} for i in infos], indent=2))
        return 0
    width = max(len(i.name) for i in infos)
    print(f"{'name':<{width}}  {'task':<14}  description")
    for info in infos:
        print(f"{info.name:<{width}}  {info.task:<14}  {info.description}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    try:
        return _train(args)
    except BadInput as err:
        for line in err.lines:
            print(f"error: {line}", file=sys.stderr)
        return EXIT_BAD_INPUT


def _train(args: argparse.Namespace) -> int:
    from .data import DatasetError
    from .graph import CompileError, analyze
    from .train import (CHECKPOINT_FILE, CheckpointError, ConfigError, ConsoleLogger, MappingError, TrainConfig,
                        TrainingFailed, train)

    graph = _read_json(args.graph, "graph")
    analysis = analyze(graph)
    if not analysis.ok:
        raise BadInput(*(f"{args.graph}: {issue.message}" for issue in analysis.errors))
    config = _config(args, TrainConfig)
    out_dir = Path(args.out or Path("runs") / _safe_name(analysis.name))
    if not args.resume and ((out_dir / CHECKPOINT_FILE).exists() or (out_dir / "manifest.json").exists()):
        raise BadInput(f"{out_dir} already holds a run; pass --resume to continue it, or choose another --out.")
    dataset = _load_data(args.data, DatasetError)

    cancel = threading.Event()
    # Ctrl-C cancels cooperatively (signal handlers can only be set from the main thread).
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous_handler = signal.signal(signal.SIGINT, _cancel_on_interrupt(cancel)) if in_main_thread else None
    try:
        result = train(graph, dataset, config, out_dir=out_dir, resume=args.resume, cancel=cancel,
                       callbacks=[ConsoleLogger(show_failures=False)])
    except MappingError as err:
        raise BadInput(*(p["message"] for p in err.problems)) from None
    except (CompileError, ConfigError, CheckpointError, DatasetError) as err:
        raise BadInput(*str(err).splitlines()) from None
    except TrainingFailed as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if in_main_thread:
            signal.signal(signal.SIGINT, previous_handler)
    if result.status == "cancelled":
        return EXIT_CANCELLED
    print(f"Saved weights, history and manifest to {out_dir}/")
    return 0


def _cancel_on_interrupt(cancel: threading.Event):
    def handler(signum, frame):
        print("\nCancelling after the current step (Ctrl-C again to abort)...", file=sys.stderr)
        cancel.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    return handler


def _read_json(path: str, what: str) -> Any:
    p = Path(path)
    try:
        if p.stat().st_size > MAX_FILE_BYTES:
            raise BadInput(f"{path} is larger than {MAX_FILE_BYTES // (1024 * 1024)} MB; "
                           f"a {what} file should be far smaller.")
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadInput(f"{path}: no such {what} file.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BadInput(f"{path} is not a readable JSON {what} file: {err}") from None


def _config(args: argparse.Namespace, config_class: type) -> Any:
    """TrainConfig from --config, with every flag that was given laid over it."""
    options: dict[str, Any] = _read_json(args.config, "config") if args.config else {}
    if not isinstance(options, dict):
        raise BadInput(f"{args.config} must hold a JSON object of training options.")
    flags = {"epochs": args.epochs, "batch_size": args.batch_size, "seed": args.seed,
             "validation_split": args.valid_split, "grad_clip_norm": args.clip_norm, "device": args.device}
    options.update({k: v for k, v in flags.items() if v is not None})
    if args.amp:
        options["amp"] = True
    if args.tensorboard:
        options["tensorboard"] = True
    if args.standardize:
        options["standardize"] = True
    optimizer = {"name": args.optimizer, "lr": args.lr, "weight_decay": args.weight_decay, "momentum": args.momentum}
    options["optimizer"] = {**options.get("optimizer", {}), **{k: v for k, v in optimizer.items() if v is not None}}
    if args.schedule:
        options["schedule"] = {**options.get("schedule", {}), "name": args.schedule}
    if args.early_stopping is not None:
        options["early_stopping"] = {**(options.get("early_stopping") or {}), "patience": args.early_stopping,
                                     "restore_best_weights": True}
    if args.monitor:
        if options.get("early_stopping") is not None:
            options["early_stopping"]["monitor"] = args.monitor
        options["schedule"] = {**options.get("schedule", {}), "monitor": args.monitor}
    if args.map:
        options["mapping"] = {**options.get("mapping", {}), **_parse_mapping(args.map)}
    try:
        return config_class.model_validate(options)
    except ValidationError as err:
        raise BadInput(*(f"option {'.'.join(str(p) for p in e['loc']) or 'config'}: {e['msg']}"
                         for e in err.errors())) from None


def _parse_mapping(items: list[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        node, sep, array = item.partition("=")
        if not sep or not node or not array:
            raise BadInput(f"--map {item!r} must look like NODE=ARRAY, e.g. --map x=pixels.")
        mapping[node] = array
    return mapping


def _load_data(spec: str, dataset_error: type[Exception]) -> Any:
    from .data import BUILTIN_DATASETS, load_builtin, load_csv, load_npz

    path = Path(spec)
    try:
        if spec in BUILTIN_DATASETS:
            return load_builtin(spec, seed=0)
        if path.suffix.lower() == ".csv":
            return load_csv(path, name=path.stem)
        if path.suffix.lower() == ".npz":
            return load_npz(path, name=path.stem)
    except dataset_error as err:
        raise BadInput(*(f"--data {spec}: {p['message']}" for p in err.problems)) from None
    raise BadInput(f"--data {spec!r} is neither a built-in dataset ({', '.join(BUILTIN_DATASETS)}) "
                   f"nor a .csv or .npz file.")


def _safe_name(name: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")
    return cleaned or "run"
