"""The files a finished run leaves in its directory, and loading a trained model back.

- ``weights.safetensors``: the final state_dict, with string metadata (format, graph name and sha256);
- ``weights.pt``: the same state_dict for ``torch.load(weights_only=True)``;
- ``history.json``: one dict of metrics per epoch;
- ``manifest.json``: graph, dataset description, data mapping, config, final metrics (test included)
  and the versions of Layerloom, PyTorch and Python.

Every file is written atomically. Keys are ``<node id>.<param>``; a shared layer's weights have one
key (its owner's), so nothing is stored twice.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from .. import __version__
from ..graph import GraphModel, analyze, build_model
from .files import atomic_write, atomic_write_json

WEIGHTS_SAFETENSORS = "weights.safetensors"
WEIGHTS_PT = "weights.pt"
HISTORY_FILE = "history.json"
MANIFEST_FILE = "manifest.json"
WEIGHTS_FORMAT = "layerloom.weights"
MANIFEST_FORMAT = "layerloom.run"


class ArtifactError(ValueError):
    """A run directory or weights file cannot be loaded; the message says which and why."""


def graph_sha256(document: Any) -> str:
    """Hash of the graph document in a canonical JSON form (sorted keys, no whitespace)."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def versions() -> dict[str, str]:
    return {"layerloom": __version__, "torch": torch.__version__, "python": platform.python_version()}


def write_artifacts(run_dir: str | os.PathLike[str], model: torch.nn.Module, *, graph: Any, manifest: dict[str, Any],
                    history: list[dict[str, Any]]) -> None:
    """Write weights (two formats), history and manifest. ``manifest`` gets graph, hash and versions added."""
    run_dir = Path(run_dir)
    digest = graph_sha256(graph)
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": WEIGHTS_FORMAT, "graph_name": str(graph.get("name", "")), "graph_sha256": digest}
    blob = safetensors.torch.save(state, metadata=metadata)
    atomic_write(run_dir / WEIGHTS_SAFETENSORS, lambda fh: fh.write(blob))
    atomic_write(run_dir / WEIGHTS_PT, lambda fh: torch.save(state, fh))
    atomic_write_json(run_dir / HISTORY_FILE, history)
    full = {"format": MANIFEST_FORMAT, "version": 1, "graph": graph, "graph_sha256": digest, **manifest,
            "versions": versions(), "files": [WEIGHTS_SAFETENSORS, WEIGHTS_PT, HISTORY_FILE]}
    atomic_write_json(run_dir / MANIFEST_FILE, full)


def read_manifest(run_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(run_dir) / MANIFEST_FILE
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{path} does not exist; is {os.fspath(run_dir)} the directory of a finished run?") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ArtifactError(f"Cannot read {path}: {err}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ArtifactError(f"{path} is not a Layerloom run manifest.")
    return manifest


def load_trained(run_dir: str | os.PathLike[str], device: str | torch.device = "cpu") -> GraphModel:
    """Build the run's graph and load its final weights strictly; the model is in eval mode."""
    manifest = read_manifest(run_dir)
    analysis = analyze(manifest["graph"])
    if not analysis.ok:
        raise ArtifactError(f"The graph in {os.fspath(run_dir)} no longer compiles: "
                            + "; ".join(i.message for i in analysis.errors))
    model = build_model(analysis)
    path = Path(run_dir) / WEIGHTS_SAFETENSORS
    try:
        with safetensors.safe_open(str(path), framework="pt") as fh:
            metadata = fh.metadata() or {}
        state = safetensors.torch.load_file(str(path))
    except (OSError, safetensors.SafetensorError) as err:
        raise ArtifactError(f"Cannot read {path}: {err}") from None
    if metadata.get("graph_sha256") != manifest.get("graph_sha256"):
        raise ArtifactError(f"{path} was trained for a different graph than the one in its manifest.")
    load_state_strict(model, state, str(path))
    return model.to(device).eval()


def load_state_strict(model: torch.nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """``load_state_dict(strict=True)`` with sorted, readable lists of missing and unexpected keys."""
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong_shape = sorted(k for k in set(expected) & set(state) if expected[k].shape != state[k].shape)
    if missing or unexpected or wrong_shape:
        parts = [f"{label}: {', '.join(keys)}" for label, keys in
                 (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong_shape)) if keys]
        raise ArtifactError(f"The weights in {source} do not fit the model ({'; '.join(parts)}).")
    model.load_state_dict(state, strict=True)
