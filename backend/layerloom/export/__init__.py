"""Exports of a finished run: ONNX, a PyTorch source package, and a torch.export archive.

    path = export_run(run_dir, "onnx")   # built once, then kept in run_dir/exports/

Each export is made from the run's manifest graph and final weights (``train.artifacts.load_trained``),
written atomically, and reused by later requests. A model that cannot be exported faithfully raises
``ExportError`` with the reason.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from pathlib import Path
from typing import Literal

EXPORT_FORMATS = ("onnx", "pytorch", "pt2")
ExportFormat = Literal["onnx", "pytorch", "pt2"]
EXPORTS_DIR = "exports"
FILE_NAMES = {"onnx": "model.onnx", "pytorch": "model-pytorch.zip", "pt2": "model.pt2"}


class ExportError(ValueError):
    """The run cannot be exported in this format; the message says why."""


def export_run(run_dir: str | os.PathLike[str], format: ExportFormat) -> Path:
    """The export file for a finished run, made on first use and cached under ``run_dir/exports``."""
    if format not in EXPORT_FORMATS:
        raise ExportError(f"Unknown export format {format!r}; use one of {', '.join(EXPORT_FORMATS)}.")
    run_dir = Path(run_dir)
    target = run_dir / EXPORTS_DIR / FILE_NAMES[format]
    if target.is_file():
        return target
    from ..train.artifacts import ArtifactError, load_trained, read_manifest
    from ..train.files import atomic_write

    try:
        manifest = read_manifest(run_dir)
        model = load_trained(run_dir)
    except ArtifactError as err:
        raise ExportError(str(err)) from None
    data = _EXPORTERS[format](model, manifest)
    atomic_write(target, lambda fh: fh.write(data))
    return target


def _onnx(model, manifest) -> bytes:
    from ..graph import analyze
    from .onnx_export import OnnxExportError, export_onnx

    try:
        return export_onnx(model, analyze(manifest["graph"]), manifest["graph"])
    except OnnxExportError as err:
        raise ExportError(str(err)) from None


def _pytorch(model, manifest) -> bytes:
    """A zip: model.py (plain PyTorch), weights.safetensors, graph.json and a README."""
    import safetensors.torch

    from .. import __version__
    from ..graph import analyze
    from .source import SourceExportError, write_model_source

    analysis = analyze(manifest["graph"])
    try:
        source = write_model_source(model, analysis, version=__version__)
    except SourceExportError as err:
        raise ExportError(str(err)) from None
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights = safetensors.torch.save(state, metadata={"graph_name": analysis.name})
    class_name = type(model).__name__
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("model.py", source)
        archive.writestr("weights.safetensors", weights)
        archive.writestr("graph.json", json.dumps(manifest["graph"], indent=2) + "\n")
        archive.writestr("README.md", _readme(analysis, class_name))
    return buffer.getvalue()


def _readme(analysis, class_name: str) -> str:
    heads = ", ".join(analysis.output_ids)
    return f"""# {analysis.name}

A model trained with Layerloom, as plain PyTorch: `model.py` needs only `torch`, and the weights
load with `safetensors`.

| file | what it is |
|---|---|
| `model.py` | the `{class_name}` class: `__init__` creates the layers, `forward` is the graph's code |
| `weights.safetensors` | the trained weights (`state_dict` keys `<node id>.<param>`) |
| `graph.json` | the Layerloom graph it was written from (open it in the editor) |

```python
import safetensors.torch
import torch
from model import {class_name}

model = {class_name}()
model.load_state_dict(safetensors.torch.load_file("weights.safetensors"))
model.eval()  # dropout off, batch normalization uses its running statistics
with torch.no_grad():
    outputs = model({{{", ".join(f'"{i}": ...' for i in analysis.input_ids)}}})  # one tensor per input, batch first
print(outputs)  # {{head id: tensor}} for the heads {heads}
```
"""


def _pt2(model, manifest) -> bytes:
    """A ``torch.export`` archive of the inference forward: ``torch.export.load(path).module()``
    takes ``{input id: tensor}`` and returns ``{head id: tensor}``. The batch dimension is dynamic;
    a sequence length stays dynamic where torch.export can keep it so (not through nn.LSTM, whose
    kernel fixes it), and is otherwise the graph's."""
    import torch

    from ..graph import analyze
    from .onnx_export import free_length_inputs, sample_inputs

    analysis = analyze(manifest["graph"])
    free = free_length_inputs(manifest["graph"], analysis)
    batch = torch.export.Dim("batch")
    dynamic = {nid: {0: batch, **({1: torch.export.Dim.AUTO} if nid in free else {})} for nid in analysis.input_ids}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. nn.LSTM's flat weights "assigned during export"
            program = torch.export.export(model.eval(), (sample_inputs(analysis, 2),), dynamic_shapes=(dynamic,))
    except Exception as err:  # torch.export's many error types all mean "cannot export this model"
        raise ExportError(f"torch.export cannot export this model: {str(err).strip()[:500]}") from None
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


_EXPORTERS = {"onnx": _onnx, "pytorch": _pytorch, "pt2": _pt2}
