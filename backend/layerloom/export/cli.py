"""``layerloom export RUN_DIR --format onnx|pytorch|pt2 -o PATH``: the same exports as the API's."""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from . import EXPORT_FORMATS, FILE_NAMES


def add_export_command(subparsers: argparse._SubParsersAction) -> None:
    export = subparsers.add_parser(
        "export", help="export a finished run as ONNX, plain PyTorch source (zip) or a torch.export archive",
        description="Export the trained model of a run directory (from `layerloom train` or a job). ONNX is "
                    "checked with onnxruntime first; a model it cannot export faithfully is refused with the reason.")
    export.add_argument("run_dir", help="a run directory holding manifest.json and weights.safetensors")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="onnx", help="onnx (default), pytorch or pt2")
    export.add_argument("-o", "--out", help="where to write it (default: the file name of the format in the current directory)")
    export.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    from . import ExportError, export_run

    try:
        made = export_run(args.run_dir, args.format)
    except ExportError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    out = Path(args.out or FILE_NAMES[args.format])
    try:
        shutil.copyfile(made, out)
    except OSError as err:
        print(f"error: cannot write {out}: {err}", file=sys.stderr)
        return 1
    print(f"Wrote {out} ({out.stat().st_size:,} bytes)")
    return 0
