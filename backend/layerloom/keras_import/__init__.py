"""Keras import: a Keras 3 ``.keras`` archive or a ``model.to_json()`` document as a Layerloom graph,
plus its weights as a state_dict for the built module.

    result = import_keras(data)        # bytes of the upload
    result.graph, result.state_dict, result.warnings

Nothing from the file is unpickled or executed: the config is JSON, the weights are HDF5 arrays
read with h5py. Modules: archive (open the upload), config (parse Keras 2/3 configs), mapping (the
layer table), convert (walk the model and write the graph), training (compile config -> heads),
weights (h5 -> state_dict).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import KerasImportError, Problem, Report

__all__ = ["ImportResult", "KerasImportError", "Problem", "import_keras"]


@dataclass
class ImportResult:
    graph: dict[str, Any]
    state_dict: dict[str, Any] | None  # torch tensors keyed like the built module's state_dict
    warnings: list[str] = field(default_factory=list)


def import_keras(data: bytes, *, with_weights: bool = True) -> ImportResult:
    # Imported here: the package is imported by the CLI's parser, which must stay light.
    from .archive import open_upload
    from .config import assign_weight_paths, parse_model
    from .convert import convert

    upload = open_upload(data)
    model = parse_model(upload.config)
    assign_weight_paths(model)
    report = Report()
    compile_config = upload.config.get("compile_config")
    converted = convert(model, compile_config if isinstance(compile_config, dict) else None, report)
    state = None
    if with_weights and upload.weights is not None:
        from .weights import load_weights

        state = load_weights(upload.weights, converted)
    elif upload.weights is None:
        report.warn("The file has no weights (a JSON config): the graph starts from fresh initial weights.")
    return ImportResult(converted.document, state, report.warnings)
