"""The ``layerloom`` command line. Each subcommand lives in one function registered in ``main``."""

from __future__ import annotations

import argparse
import json
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
    print(render_summary(analysis))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="layerloom", description="Design, check and train neural networks as graphs.")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="validate a graph JSON file and print its summary (or its errors, exit code 1)")
    check.add_argument("graph", help="path to a graph JSON file")
    check.add_argument("--json", action="store_true", help="print the machine-readable analysis instead of the table")
    check.set_defaults(func=cmd_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
