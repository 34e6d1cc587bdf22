"""The ``layerloom`` command line. Each subcommand lives in one function registered in ``main``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

MAX_GRAPH_FILE_BYTES = 20 * 1024 * 1024


def read_graph_file(path: str) -> Any:
    """Read a graph JSON file, exiting with a clear message (not a traceback) when it cannot."""
    p = Path(path)
    try:
        if p.stat().st_size > MAX_GRAPH_FILE_BYTES:
            sys.exit(f"error: {path} is larger than {MAX_GRAPH_FILE_BYTES // (1024 * 1024)} MB; a graph file should be far smaller.")
        return json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        sys.exit(f"error: {path}: no such file")
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        sys.exit(f"error: {path} is not valid JSON: {err}")


def cmd_check(args: argparse.Namespace) -> int:
    from .graph import analyze, render_summary, summary_json

    analysis = analyze(read_graph_file(args.graph))
    if args.json:
        out = analysis.to_json()
        out["summary"] = summary_json(analysis)
        print(json.dumps(out, indent=2))
        return 0 if analysis.ok else 1
    for issue in analysis.warnings:
        print(f"warning [{issue.code}] {issue.message}", file=sys.stderr)
    if not analysis.ok:
        for issue in analysis.errors:
            print(f"error [{issue.code}] {issue.message}", file=sys.stderr)
        print(f"{args.graph}: {len(analysis.errors)} error(s)", file=sys.stderr)
        return 1
    print(render_summary(analysis, expand_nested=args.expand))
    return 0


def _settings_with(data_dir: str | None):
    """Settings from the environment, with ``--data-dir`` exported so the worker and runner children agree."""
    from .settings import get_settings

    if data_dir:
        os.environ["LAYERLOOM_DATA_DIR"] = str(Path(data_dir).resolve())
        get_settings.cache_clear()
    try:
        return get_settings()
    except ValueError as err:  # pydantic's ValidationError: a bad LAYERLOOM_* variable
        sys.exit(f"error: invalid settings: {err}")


def cmd_serve(args: argparse.Namespace) -> int:
    from .serve import serve

    settings = _settings_with(args.data_dir)
    if not args.no_worker:
        from .worker.options import WorkerOptions

        try:
            WorkerOptions.from_settings(settings, embedded=True)
        except ValueError as err:  # a bad LAYERLOOM_WORKER_* setting: say which, before starting anything
            sys.exit(f"error: {err}")
    code = serve(settings, args.host or settings.host, args.port or settings.port, with_worker=not args.no_worker)
    # Everything is stopped and closed; skip the interpreter's teardown, which takes seconds once torch
    # is loaded and would hold up a restart (docker stop, Ctrl-C).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def cmd_worker(args: argparse.Namespace) -> int:
    # The options become LAYERLOOM_WORKER_* variables, so the Celery process and its tasks read them back.
    for option, value in (("NAME", args.name), ("CONCURRENCY", args.concurrency), ("DEVICES", args.devices),
                          ("QUEUES", args.queues)):
        if value is not None:
            os.environ[f"LAYERLOOM_WORKER_{option}"] = str(value)
    from .settings import get_settings

    get_settings.cache_clear()
    settings = _settings_with(args.data_dir)
    if args.check:
        return worker_check(settings)
    from .serve import run_worker

    from .worker.options import WorkerOptions

    try:
        options = WorkerOptions.from_settings(settings)
    except ValueError as err:  # a bad --devices, --queues or --concurrency: say which
        sys.exit(f"error: {err}")
    return run_worker(settings, options)


def worker_check(settings) -> int:
    """Exit 0 when a worker on this host beats in the registry (a container health check)."""
    import socket

    from .jobs.workers import worker_registry

    host = socket.gethostname()
    alive = [w for w in worker_registry(settings).all() if w.host == host and w.alive()]
    print(", ".join(w.name for w in alive) or f"no worker on {host} answers")
    return 0 if alive else 1


def build_parser() -> argparse.ArgumentParser:
    # Every subcommand imports what it needs when it runs: `check` must not pay for torch, the API
    # or the database (a test checks sys.modules).
    parser = argparse.ArgumentParser(prog="layerloom", description="Design, check and train neural networks as graphs.")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate a graph JSON file and print its summary (or its errors, exit code 1)")
    check.add_argument("graph", help="path to a graph JSON file")
    check.add_argument("--json", action="store_true", help="print the machine-readable analysis instead of the table")
    check.add_argument("--expand", action="store_true", help="show the layers inside each block call, indented")
    check.set_defaults(func=cmd_check)

    serve = sub.add_parser("serve", help="run the app: API, editor and one training worker (SQLite by default)")
    serve.add_argument("--host", help="address to listen on (default LAYERLOOM_HOST, else 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default LAYERLOOM_PORT, else 8000)")
    serve.add_argument("--data-dir", help="where the database, uploads and artifacts live (default ./data)")
    serve.add_argument("--no-worker", action="store_true", help="serve the API only (workers run elsewhere)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run one training worker (for extra machines; needs a shared database and broker)")
    worker.add_argument("--data-dir", help="where uploads and artifacts live (default ./data)")
    worker.add_argument("--name", help="a name for the worker in /api/admin/workers (default host:pid)")
    worker.add_argument("--concurrency", type=int, metavar="K",
                        help="jobs run at once, each in its own runner (default: one per device, else 1)")
    worker.add_argument("--devices", metavar="cuda:0,cuda:1",
                        help="devices handed out one per runner through CUDA_VISIBLE_DEVICES (default: none)")
    worker.add_argument("--queues", metavar="gpu,default",
                        help="job queues to take from (default: 'default', plus 'gpu' with --devices)")
    worker.add_argument("--check", action="store_true", help="exit 0 if a worker on this host answers (health checks)")
    worker.set_defaults(func=cmd_worker)

    add_token_commands(sub)
    add_user_commands(sub)

    from .cli_train import add_train_commands
    from .export.cli import add_export_command
    from .keras_import.cli import add_import_command

    add_train_commands(sub)
    add_datasets_commands(sub)
    add_import_command(sub)
    add_export_command(sub)
    return parser


def add_token_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``token create NAME`` (it runs ``api.auth``, imported only then)."""
    token = subparsers.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser(
        "create", help="create a bearer token for user NAME (creating the user if needed) and print it once")
    create.add_argument("name", help="user name (1-100 characters)", type=_user_name)
    create.set_defaults(func=cmd_token_create)


def add_datasets_commands(subparsers: argparse._SubParsersAction) -> None:
    """``datasets register PATH`` (plain ``datasets`` still lists the built-ins, from cli_train)."""
    datasets = subparsers.choices["datasets"]
    datasets_sub = datasets.add_subparsers(dest="datasets_command")
    register = datasets_sub.add_parser(
        "register", help="register a folder of train|valid|test/<class>/<image> under LAYERLOOM_DATA_ROOTS "
                         "as a dataset every user can train on (no upload)")
    register.add_argument("path", help="the folder: absolute, or relative to the first data root")
    register.add_argument("--name", required=True, help="the dataset's name")
    register.add_argument("--image-size", nargs=2, type=int, default=(32, 32), metavar=("HEIGHT", "WIDTH"))
    register.add_argument("--color-mode", choices=("rgb", "grayscale"), default="rgb")
    register.add_argument("--owner", help="the admin user recorded as its owner (default: the local user)")
    register.set_defaults(func=cmd_datasets_register)


def cmd_datasets_register(args: argparse.Namespace) -> int:
    from .api.auth import get_or_create_user
    from .data import DatasetError
    from .data.folders import data_roots
    from .settings import get_settings
    from .store.datasets import register_folder
    from .store.db import make_engine, make_sessionmaker, migrate

    settings = get_settings()
    migrate(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        with make_sessionmaker(engine)() as session:
            owner = get_or_create_user(session, args.owner or settings.local_user_name)
            options = {"image_size": list(args.image_size), "color_mode": args.color_mode}
            try:
                row = register_folder(session, settings.data_dir, owner, args.path, args.name, options,
                                      data_roots(settings.data_roots))
            except DatasetError as err:
                for item in err.problems:
                    print(f"error: {item['message']}", file=sys.stderr)
                return 2
            print(f"registered {row.name!r} as dataset {row.id} ({row.description['sizes']})")
    finally:
        engine.dispose()
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    from .api.auth import cmd_token_create as create_token

    return create_token(args)


def add_user_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``user create NAME [--admin]``, ``user disable|enable NAME`` and ``user list``."""
    user = subparsers.add_parser("user", help="manage users who log in to the editor (token auth mode)")
    user_sub = user.add_subparsers(dest="user_command", required=True)
    create = user_sub.add_parser("create", help="create a user with a password (asked for, never echoed), "
                                                "or set an existing user's password")
    create.add_argument("name", help="user name (1-100 characters)", type=_user_name)
    create.add_argument("--admin", action="store_true", help="the user may list and disable users and see the queue")
    create.add_argument("--password-stdin", action="store_true",
                        help="read the password from the first line of standard input (scripts)")
    create.set_defaults(func=_user_command("cmd_user_create"))
    for action, text in (("disable", "disable a user: its sessions and tokens stop working at once"),
                         ("enable", "enable a disabled user again")):
        sub = user_sub.add_parser(action, help=text)
        sub.add_argument("name", type=_user_name)
        sub.set_defaults(func=_user_command("cmd_user_disable"))
    user_sub.add_parser("list", help="list the users with their role and state").set_defaults(
        func=_user_command("cmd_user_list"))


def _user_command(name: str):
    def run(args: argparse.Namespace) -> int:
        from .api import auth

        return getattr(auth, name)(args)

    return run


def _user_name(value: str) -> str:
    if not 1 <= len(value) <= 100:
        raise argparse.ArgumentTypeError("a user name has 1 to 100 characters")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
