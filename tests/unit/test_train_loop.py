"""Trainer behaviour on tiny synthetic data: events, loss weights and penalty, early stopping,
schedules, clipping, validation split, batch order, and the errors raised before training."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from layerloom.data import Dataset
from layerloom.graph import compile_graph
from layerloom.train import (CHECKPOINT_FILE, CheckpointError, ConfigError, EarlyStoppingConfig, MappingError, evaluate,
                             load_checkpoint, train)
from layerloom.train.stopping import EarlyStopping
from layerloom.train.batching import batch_bounds, epoch_permutation

N_TRAIN, N_VALID = 96, 32


class Recorder:
    def __init__(self) -> None:
        self.events = []

    def on_event(self, event):
        self.events.append(event)

    def of(self, type_):
        return [e for e in self.events if e["type"] == type_]


def mlp(*, penalty: float = 0.0, metrics=("accuracy",), dropout: float = 0.0) -> dict:
    nodes = [{"id": "x", "type": "Input", "params": {"shape": [6]}},
             {"id": "h", "type": "Dense", "params": {"units": 16, "activation": "relu"}}]
    edges = [{"source": "x", "target": "h"}]
    last = "h"
    if penalty:
        nodes.append({"id": "reg", "type": "ActivityRegularization", "params": {"l2": penalty}})
        edges.append({"source": last, "target": "reg"})
        last = "reg"
    if dropout:
        nodes.append({"id": "drop", "type": "Dropout", "params": {"rate": dropout}})
        edges.append({"source": last, "target": "drop"})
        last = "drop"
    nodes += [{"id": "out", "type": "Dense", "params": {"units": 3, "activation": "softmax"}},
              {"id": "y", "type": "Output",
               "params": {"loss": "sparse_categorical_crossentropy", "metrics": list(metrics)}}]
    edges += [{"source": last, "target": "out"}, {"source": "out", "target": "y"}]
    return {"format": "layerloom.graph", "version": 1, "name": "tiny-mlp", "nodes": nodes, "edges": edges}


def toy_data(valid: bool = True) -> Dataset:
    rng = np.random.default_rng(0)
    n = N_TRAIN + N_VALID
    y = rng.integers(0, 3, n)
    x = (rng.normal(size=(n, 6)) + np.eye(3, 6)[y] * 2).astype(np.float32)
    splits = {"train": {"x": x[:N_TRAIN], "y": y[:N_TRAIN]}}
    if valid:
        splits["valid"] = {"x": x[N_TRAIN:], "y": y[N_TRAIN:]}
    return Dataset.from_arrays("toy", splits)


def run(config=None, graph=None, data=None, **kwargs):
    recorder = Recorder()
    result = train(graph or mlp(), data or toy_data(), {"epochs": 3, "batch_size": 16, **(config or {})},
                   callbacks=[recorder], **kwargs)
    return result, recorder


# ---- events -------------------------------------------------------------------------------


def test_events_are_numbered_typed_and_json():
    result, rec = run({"log_every_steps": 2})
    assert [e["seq"] for e in rec.events] == list(range(len(rec.events)))
    assert rec.events[0]["status"] == "running" and rec.events[-1]["status"] == "succeeded"
    assert {e["type"] for e in rec.events} == {"status", "step", "epoch"}
    for event in rec.events:
        assert set(event) >= {"seq", "type", "epoch", "step", "metrics", "time"}
        json.dumps(event, allow_nan=False)
    steps_per_epoch = N_TRAIN // 16
    # every 2nd step, except where the epoch ends (the epoch event covers it)
    assert [e["step"] for e in rec.of("step")] == [s for s in range(1, 3 * steps_per_epoch + 1)
                                                   if s % 2 == 0 and s % steps_per_epoch != 0]
    assert [e["step"] for e in rec.of("epoch")] == [6, 12, 18]
    assert set(rec.of("step")[0]["metrics"]) == {"loss", "y/loss", "y/accuracy", "lr"}
    assert set(rec.of("epoch")[0]["metrics"]) == {"loss", "y/loss", "y/accuracy", "val_loss", "val_y/loss",
                                                  "val_y/accuracy", "lr"}
    assert result.history == [{"epoch": e["epoch"], **e["metrics"]} for e in rec.of("epoch")]


def test_step_and_epoch_events_count_the_samples_seen_for_a_rate():
    # 100 samples in batches of 16: six full batches and one of 4, so samples are not steps x batch.
    data = Dataset.from_arrays("toy", {"train": {"x": np.zeros((100, 6), np.float32), "y": np.arange(100) % 3}})
    _, rec = run({"epochs": 2, "log_every_steps": 1}, data=data)
    assert rec.events[0]["train_samples"] == 100 and rec.events[0]["steps_per_epoch"] == 7
    assert [e["samples"] for e in rec.of("epoch")] == [100, 200]
    assert [e["samples"] for e in rec.of("step")] == [16, 32, 48, 64, 80, 96, 116, 132, 148, 164, 180, 196]


def test_first_seq_numbers_the_first_event():
    _, rec = run({"epochs": 1}, first_seq=100)
    assert rec.events[0]["seq"] == 100


def test_step_events_carry_the_epoch_to_date_mean():
    # A learning rate too small to move the weights makes every batch loss computable up front.
    data = toy_data(valid=False)
    _, rec = run({"epochs": 1, "log_every_steps": 1, "shuffle": False, "optimizer": {"name": "sgd", "lr": 1e-30}},
                 data=data)
    train_split = data.splits["train"]
    with torch.no_grad():
        logits = compile_graph(mlp(), seed=0).forward_train({"x": torch.from_numpy(train_split["x"])})["heads"]["y"]
    batch_losses = F.cross_entropy(logits, torch.from_numpy(train_split["y"]), reduction="none").view(6, 16).mean(dim=1)
    running = (batch_losses.double().cumsum(0) / torch.arange(1, 7)).tolist()
    assert [e["metrics"]["loss"] for e in rec.of("step")] == pytest.approx(running[:5], rel=1e-6)
    assert rec.of("epoch")[0]["metrics"]["loss"] == pytest.approx(running[5], rel=1e-6)


# ---- losses ---------------------------------------------------------------------------------


def test_loss_weight_override_scales_the_total():
    result, _ = run({"epochs": 1, "loss_weights": {"y": 2.5}})
    for prefix in ("", "val_"):
        assert result.history[0][f"{prefix}loss"] == pytest.approx(2.5 * result.history[0][f"{prefix}y/loss"], rel=1e-6)


def test_activity_penalty_is_added_to_the_total():
    result, _ = run({"epochs": 1}, graph=mlp(penalty=0.01))
    epoch = result.history[0]
    assert epoch["loss"] > epoch["y/loss"] and epoch["val_loss"] > epoch["val_y/loss"]


# ---- early stopping and schedules -----------------------------------------------------------


def test_early_stopping_counts_only_improvements_beyond_min_delta():
    stopper = EarlyStopping(EarlyStoppingConfig(monitor="val_loss", patience=2, min_delta=0.1))
    assert stopper.update(1, {"val_loss": 1.0})
    assert not stopper.update(2, {"val_loss": 0.95})  # better, but by less than min_delta
    restored = EarlyStopping(stopper.config)
    restored.load_state_dict(stopper.state_dict())
    assert not restored.update(3, {"val_loss": None}) and restored.should_stop  # NaN never improves
    assert (restored.best, restored.best_epoch, restored.stopped_epoch) == (1.0, 1, 3)


def test_early_stopping_stops_after_patience_and_says_so():
    # Maximising the loss never improves after epoch 1: patience 1 stops after epoch 2.
    result, rec = run({"epochs": 10, "early_stopping": {"monitor": "loss", "mode": "max", "patience": 1}})
    assert result.stopped_early and result.epochs_completed == 2
    assert any("Early stopping after epoch 2" in e["message"] for e in rec.of("log"))


def test_restore_best_weights_ends_with_the_best_epoch():
    result, _ = run({"epochs": 4, "early_stopping": {"monitor": "val_loss", "mode": "max", "patience": 10,
                                                     "restore_best_weights": True}})
    best = max(range(4), key=lambda i: result.history[i]["val_loss"]) + 1
    assert result.best_epoch == best != 4
    again = evaluate(result.model, mlp(), toy_data(), split="valid", config={"batch_size": 16})
    assert again["loss"] == pytest.approx(result.history[best - 1]["val_loss"], abs=1e-7)


def test_step_schedule_halves_the_rate_every_epoch():
    result, _ = run({"optimizer": {"name": "sgd", "lr": 0.1}, "schedule": {"name": "step", "step_size": 1, "gamma": 0.5}})
    assert [h["lr"] for h in result.history] == pytest.approx([0.1, 0.05, 0.025])


def test_cosine_schedule_anneals_to_min_lr():
    result, _ = run({"epochs": 4, "optimizer": {"lr": 0.01}, "schedule": {"name": "cosine", "min_lr": 0.001}})
    lrs = [h["lr"] for h in result.history]
    assert lrs[0] == 0.01 and lrs == sorted(lrs, reverse=True) and lrs[-1] > 0.001


def test_reduce_on_plateau_uses_keras_patience():
    # Maximising the loss improves only in epoch 1; with Keras's patience 1 every later epoch
    # reduces the rate (PyTorch's patience 1 would wait for two bad epochs each time).
    result, _ = run({"epochs": 4, "optimizer": {"lr": 0.01},
                     "schedule": {"name": "reduce_on_plateau", "monitor": "loss", "mode": "max", "patience": 1,
                                  "factor": 0.5}})
    assert [h["lr"] for h in result.history] == pytest.approx([0.01, 0.01, 0.005, 0.0025])


# ---- gradients -------------------------------------------------------------------------------


def weights_change(config):
    graph, data = mlp(), toy_data(valid=False)
    before = compile_graph(graph, seed=0).state_dict()
    result, _ = run({"epochs": 1, "batch_size": N_TRAIN, "optimizer": {"name": "sgd", "lr": 1.0}, **config},
                    graph=graph, data=data)
    after = result.model.state_dict()
    return torch.cat([(after[k] - before[k]).flatten() for k in before])


def test_gradient_norm_clipping_bounds_the_update():
    assert weights_change({"grad_clip_norm": 1e-3}).norm() == pytest.approx(1e-3, rel=1e-3)


def test_gradient_value_clipping_bounds_each_element():
    assert weights_change({"grad_clip_value": 1e-4}).abs().max() <= 1e-4 * (1 + 1e-3)  # float32 rounding


# ---- data ------------------------------------------------------------------------------------


def test_validation_split_is_carved_from_train_deterministically():
    data = toy_data(valid=False)
    first, rec = run({"epochs": 1, "validation_split": 0.25}, data=data)
    second, _ = run({"epochs": 1, "validation_split": 0.25}, data=data)
    assert "72 training samples" in rec.events[0]["message"] and "24 validation samples" in rec.events[0]["message"]
    assert first.history == second.history


def test_validation_split_replaces_the_datasets_valid_split_and_says_so():
    _, rec = run({"epochs": 1, "validation_split": 0.25})
    assert any("replaces the dataset's own valid split" in e["message"] for e in rec.of("log"))


def test_batch_order_depends_only_on_seed_and_epoch():
    cpu = torch.device("cpu")
    assert torch.equal(epoch_permutation(3, 2, 50, cpu), epoch_permutation(3, 2, 50, cpu))
    assert not torch.equal(epoch_permutation(3, 2, 50, cpu), epoch_permutation(3, 3, 50, cpu))
    assert sorted(epoch_permutation(3, 2, 50, cpu).tolist()) == list(range(50))
    assert batch_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]


def test_unshuffled_training_is_deterministic_too():
    first, _ = run({"shuffle": False})
    second, _ = run({"shuffle": False})
    assert first.history == second.history


# ---- refusals before training -----------------------------------------------------------------


def test_mapping_problems_fail_before_training_with_a_failed_event():
    recorder = Recorder()
    with pytest.raises(MappingError):
        train(mlp(), toy_data(), {"mapping": {"x": "pixels"}}, callbacks=[recorder])
    assert [e["status"] for e in recorder.of("status")] == ["failed"]
    assert "pixels" in recorder.events[-1]["message"]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_asking_for_cuda_without_it_is_a_config_error():
    with pytest.raises(ConfigError, match="CUDA is not available"):
        run({"device": "cuda"})


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_amp_without_cuda_trains_in_float32_and_says_so():
    result, rec = run({"epochs": 1, "amp": True})
    assert result.status == "succeeded"
    assert any("amp" in e["message"] for e in rec.of("log"))


def test_resume_needs_an_output_directory():
    with pytest.raises(ConfigError, match="out_dir"):
        run(resume=True)


def test_resume_refuses_a_checkpoint_of_another_graph(tmp_path):
    run({"epochs": 1}, out_dir=tmp_path)
    with pytest.raises(CheckpointError, match="different graph"):
        run({"epochs": 2}, graph=mlp(dropout=0.1), out_dir=tmp_path, resume=True)


def test_checkpoint_holds_everything_needed_to_resume(tmp_path):
    run({"epochs": 2, "schedule": {"name": "step"}, "early_stopping": {"monitor": "val_loss", "patience": 5,
                                                                       "restore_best_weights": True}},
        out_dir=tmp_path)
    state = load_checkpoint(tmp_path / CHECKPOINT_FILE)  # torch.load(weights_only=True) inside
    assert {"model", "optimizer", "scheduler", "rng", "epoch", "global_step", "history", "early_stopping",
            "best_weights", "event_seq", "graph_sha256", "config"} <= set(state)
    assert (state["epoch"], state["global_step"], len(state["history"])) == (2, 12, 2)
    assert sorted(state["model"]) == sorted(state["best_weights"]) == ["h.bias", "h.weight", "out.bias", "out.weight"]


def test_cancel_before_the_first_step():
    cancel = threading.Event()
    cancel.set()
    result, rec = run(cancel=cancel)
    assert result.status == "cancelled" and result.epochs_completed == 0
    assert rec.events[-1]["status"] == "cancelled" and rec.events[-1]["step"] == 0
