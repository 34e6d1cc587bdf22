"""Weights imported with a Keras model: one safetensors file per import, keyed by a server-chosen id
under its owner's folder (``data_dir/imported_weights/<owner>/<id>.safetensors``), so someone else's
id is simply not found. A job names one as ``init_weights`` to start from it."""

from __future__ import annotations

import os
import re
import uuid
from pathlib import Path
from typing import Any

IMPORTED_DIR = "imported_weights"
_ID = re.compile(r"^[0-9a-f]{32}$")


def weights_path(data_dir: Path, owner_id: str, weights_id: str) -> Path:
    """Where an owner's imported weights live; ids are checked, so neither part can leave the folder."""
    if not _ID.match(weights_id) or not re.match(r"^[A-Za-z0-9_-]{1,64}$", owner_id):
        raise ValueError(f"{weights_id!r} is not an imported weights id")
    return Path(data_dir) / IMPORTED_DIR / owner_id / f"{weights_id}.safetensors"


def weights_file(data_dir: Path, owner_id: str, weights_id: str) -> Path | None:
    """The file of an owner's imported weights, or None when the id is malformed or not theirs."""
    try:
        path = weights_path(data_dir, owner_id, weights_id)
    except ValueError:
        return None
    return path if path.is_file() else None


def save_weights(data_dir: Path, owner_id: str, state_dict: dict[str, Any]) -> str:
    from safetensors.torch import save_file

    weights_id = uuid.uuid4().hex
    folder = Path(data_dir) / IMPORTED_DIR / owner_id
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f"{weights_id}.safetensors.tmp"
    save_file({k: v.contiguous() for k, v in state_dict.items()}, str(tmp))
    os.replace(tmp, folder / f"{weights_id}.safetensors")  # never a half-written file under the final name
    return weights_id
