"""The end-of-epoch checkpoint: everything a run needs to continue exactly where it stopped.

It holds the model, optimizer, scheduler and gradient-scaler state, the random number generator
states (torch CPU, CUDA when used, numpy, Python), the epoch and step reached, the history, the
early-stopping state and the next event ``seq``. It is written atomically and contains only tensors
and plain containers, so it loads with ``torch.load(weights_only=True)``: nothing is unpickled.
"""

from __future__ import annotations

import json
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .files import atomic_write

CHECKPOINT_FILE = "checkpoint.pt"
FORMAT = "layerloom.checkpoint"
VERSION = 1


class CheckpointError(ValueError):
    """The checkpoint cannot be used to resume this run."""


CHECKPOINT_INFO_SUFFIX = ".json"  # checkpoint.json: the epoch it holds, readable without torch


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    payload = {"format": FORMAT, "version": VERSION, **state}
    atomic_write(path, lambda fh: torch.save(payload, fh))
    # After the checkpoint: the note never names an epoch the checkpoint does not hold.
    info = json.dumps({"epoch": int(state.get("epoch", 0))}).encode()
    atomic_write(Path(path).with_suffix(CHECKPOINT_INFO_SUFFIX), lambda fh: fh.write(info))


def checkpoint_epoch(path: str | os.PathLike[str]) -> int | None:
    """The epoch of the checkpoint at ``path`` (from its note), or None when there is none."""
    try:
        return int(json.loads(Path(path).with_suffix(CHECKPOINT_INFO_SUFFIX).read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load on the CPU (RNG states must be CPU tensors); the trainer moves the rest."""
    try:
        state = torch.load(Path(path), map_location="cpu", weights_only=True)
    except Exception as err:  # a truncated or foreign file: say which, without a pickle traceback
        raise CheckpointError(f"Cannot read the checkpoint {os.fspath(path)}: {err}") from err
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"{os.fspath(path)} is not a Layerloom checkpoint.")
    if state.get("version") != VERSION:
        raise CheckpointError(f"{os.fspath(path)} has checkpoint version {state.get('version')}; "
                              f"this Layerloom reads version {VERSION}.")
    return state


def capture_rng_state(device: torch.device) -> dict[str, Any]:
    """Every random state a training step may draw from, as tensors and plain values."""
    _, keys, pos, has_gauss, cached_gaussian = np.random.get_state()
    version, python_state, gauss_next = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached_gaussian)},
        "python": {"version": version, "state": torch.tensor(python_state, dtype=torch.int64), "gauss_next": gauss_next},
    }
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng_state(state: dict[str, Any], device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state(("MT19937", np_state["keys"].numpy().astype(np.uint32), np_state["pos"],
                         np_state["has_gauss"], np_state["cached_gaussian"]))
    py_state = state["python"]
    random.setstate((py_state["version"], tuple(py_state["state"].tolist()), py_state["gauss_next"]))
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)
