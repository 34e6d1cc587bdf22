"""``layerloom import MODEL.keras -o graph.json [--weights out.safetensors]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

MAX_FILE_BYTES = 1024**3  # the same cap as a dataset zip


def add_import_command(sub) -> None:
    parser = sub.add_parser("import", help="convert a Keras model (.keras archive or model.to_json()) into a graph")
    parser.add_argument("model", help="a Keras 3 .keras file, or a JSON file written by model.to_json()")
    parser.add_argument("-o", "--output", required=True, help="where to write the graph JSON")
    parser.add_argument("--weights", help="also write the imported weights here (safetensors; .keras files only)")
    parser.set_defaults(func=cmd_import)


def cmd_import(args: argparse.Namespace) -> int:
    from . import KerasImportError, import_keras

    path = Path(args.model)
    try:
        if path.stat().st_size > MAX_FILE_BYTES:
            sys.exit(f"error: {path} is larger than {MAX_FILE_BYTES // 1024**2} MB.")
        data = path.read_bytes()
    except OSError as err:
        sys.exit(f"error: {path}: {err.strerror}")
    try:
        result = import_keras(data, with_weights=bool(args.weights))
    except KerasImportError as err:
        for problem in err.problems:
            print(f"error [{problem.code}] {problem.message}", file=sys.stderr)
        print(f"{path}: cannot be imported ({len(err.problems)} problem(s))", file=sys.stderr)
        return 1
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    Path(args.output).write_text(json.dumps(result.graph, indent=2) + "\n", encoding="utf-8")
    if args.weights:
        if result.state_dict is None:
            print(f"error: {path} has no weights (a JSON config); the graph was written without them.", file=sys.stderr)
            return 1
        from safetensors.torch import save_file

        save_file(result.state_dict, args.weights)
    print(f"wrote {args.output}" + (f" and {args.weights}" if args.weights else ""))
    return 0
