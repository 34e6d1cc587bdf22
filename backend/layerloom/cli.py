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

    return serve(_settings_with(args.data_dir), args.host, args.port, with_worker=not args.no_worker)


def cmd_worker(args: argparse.Namespace) -> int:
    from .serve import run_worker

    return run_worker(_settings_with(args.data_dir))


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
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument("--data-dir", help="where the database, uploads and artifacts live (default ./data)")
    serve.add_argument("--no-worker", action="store_true", help="serve the API only (workers run elsewhere)")
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser("worker", help="run one training worker (for extra machines; needs a shared database and broker)")
    worker.add_argument("--data-dir", help="where uploads and artifacts live (default ./data)")
    worker.set_defaults(func=cmd_worker)

    add_token_commands(sub)

    from .cli_train import add_train_commands

    add_train_commands(sub)
    return parser


def add_token_commands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``token create NAME`` (it runs ``api.auth``, imported only then)."""
    token = subparsers.add_parser("token", help="manage API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser(
        "create", help="create a bearer token for user NAME (creating the user if needed) and print it once")
    create.add_argument("name", help="user name (1-100 characters)", type=_user_name)
    create.set_defaults(func=cmd_token_create)


def cmd_token_create(args: argparse.Namespace) -> int:
    from .api.auth import cmd_token_create as create_token

    return create_token(args)


def _user_name(value: str) -> str:
    if not 1 <= len(value) <= 100:
        raise argparse.ArgumentTypeError("a user name has 1 to 100 characters")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
