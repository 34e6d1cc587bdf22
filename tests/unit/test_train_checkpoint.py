"""Atomic writes, random-state capture, and checkpoints that load with weights_only=True."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

from layerloom.train import CheckpointError, load_checkpoint
from layerloom.train.checkpoint import capture_rng_state, restore_rng_state, save_checkpoint
from layerloom.train.files import atomic_write, atomic_write_json


def test_atomic_write_leaves_no_partial_file_when_writing_fails(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")

    def fail(fh):
        fh.write(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_atomic_json_is_readable_by_others_and_refuses_nan(tmp_path):
    atomic_write_json(tmp_path / "a.json", {"x": 1})
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    with pytest.raises(ValueError):
        atomic_write_json(tmp_path / "b.json", {"x": float("nan")})
    assert not (tmp_path / "b.json").exists()


def test_rng_states_round_trip_through_a_weights_only_checkpoint(tmp_path):
    cpu = torch.device("cpu")
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    state = capture_rng_state(cpu)
    expected = (torch.rand(3), np.random.rand(3), [random.random() for _ in range(3)])
    save_checkpoint(tmp_path / "c.pt", {"rng": state, "history": [{"epoch": 1, "loss": None}]})
    loaded = load_checkpoint(tmp_path / "c.pt")
    torch.manual_seed(9), np.random.seed(9), random.seed(9)
    restore_rng_state(loaded["rng"], cpu)
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert [random.random() for _ in range(3)] == expected[2]
    assert loaded["history"] == [{"epoch": 1, "loss": None}]


def test_a_checkpoint_holding_arbitrary_objects_is_refused(tmp_path):
    torch.save({"format": "layerloom.checkpoint", "version": 1, "obj": object()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match="Cannot read"):
        load_checkpoint(tmp_path / "evil.pt")


def test_foreign_and_future_checkpoints_are_refused(tmp_path):
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a Layerloom checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    torch.save({"format": "layerloom.checkpoint", "version": 99}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="version 99"):
        load_checkpoint(tmp_path / "future.pt")
