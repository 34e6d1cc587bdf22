"""Weights imported with a Keras model: one safetensors file per import, keyed by a server-chosen id
under its owner's folder (storage key ``imported_weights/<owner>/<id>.safetensors``; with the
embedded local storage, that file under ``data_dir``), so someone else's id is simply not found. A
job names one as ``init_weights`` to start from it; readers take it through their storage cache."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from ..storage import Storage, StorageCache, StorageNotFound

IMPORTED_DIR = "imported_weights"
_ID = re.compile(r"[0-9a-f]{32}")
_OWNER = re.compile(r"[A-Za-z0-9_-]{1,64}")


def weights_key(owner_id: str, weights_id: str) -> str:
    """The storage key of an owner's imported weights; ids are checked, so neither part can leave the folder."""
    if not _ID.fullmatch(weights_id) or not _OWNER.fullmatch(owner_id):
        raise ValueError(f"{weights_id!r} is not an imported weights id")
    return f"{IMPORTED_DIR}/{owner_id}/{weights_id}.safetensors"


def weights_file(cache: StorageCache, owner_id: str, weights_id: str) -> Path | None:
    """This machine's copy of an owner's imported weights, or None when the id is malformed or not
    theirs. Raises StorageError on a storage outage."""
    try:
        return cache.fetch(weights_key(owner_id, weights_id))
    except (ValueError, StorageNotFound):
        return None


def save_weights(storage: Storage, staging_dir: Path, owner_id: str, state_dict: dict[str, Any]) -> str:
    """Store the weights under a new id (written whole, then put: never a half file under the key)."""
    from safetensors.torch import save_file

    weights_id = uuid.uuid4().hex
    key = weights_key(owner_id, weights_id)
    staging_dir.mkdir(parents=True, exist_ok=True)
    tmp = staging_dir / f"{weights_id}.safetensors.tmp"
    try:
        save_file({k: v.contiguous() for k, v in state_dict.items()}, str(tmp))
        storage.put(key, tmp)
    finally:
        tmp.unlink(missing_ok=True)
    return weights_id


__all__ = ["IMPORTED_DIR", "save_weights", "weights_file", "weights_key"]
