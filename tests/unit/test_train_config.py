"""TrainConfig validation and the optimizers and schedules it builds."""

from __future__ import annotations

import pytest
import torch
from pydantic import ValidationError

from layerloom.train import OptimizerConfig, ScheduleConfig, TrainConfig
from layerloom.train.optim import build_optimizer, build_scheduler


def test_defaults():
    config = TrainConfig()
    assert (config.epochs, config.batch_size, config.optimizer.name, config.device) == (10, 32, "adam", "auto")
    assert config.effective_eval_batch_size == 256


@pytest.mark.parametrize("options, message", [
    ({"epoch": 3}, "Extra inputs"),
    ({"batch_size": 0}, "greater than or equal to 1"),
    ({"validation_split": 1.0}, "less than 1"),
    ({"device": "tpu"}, "pattern"),
    ({"optimizer": {"name": "lamb"}}, "sgd"),
    ({"optimizer": {"name": "sgd", "nesterov": True}}, "nesterov"),
    ({"optimizer": {"name": "adam", "lr": -1}}, "greater than 0"),
    ({"loss_weights": {"y": -1.0}}, "loss_weights"),
])
def test_invalid_options_are_refused(options, message):
    with pytest.raises(ValidationError, match=message):
        TrainConfig.model_validate(options)


def params():
    return [torch.nn.Parameter(torch.zeros(2))]


@pytest.mark.parametrize("options, cls, expected", [
    ({"name": "sgd"}, torch.optim.SGD, {"lr": 0.01, "momentum": 0.0, "nesterov": False}),
    ({"name": "sgd", "momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}, torch.optim.SGD,
     {"momentum": 0.9, "nesterov": True, "weight_decay": 1e-4}),
    ({"name": "adam"}, torch.optim.Adam, {"lr": 0.001, "eps": 1e-7, "betas": (0.9, 0.999), "weight_decay": 0.0}),
    ({"name": "adam", "amsgrad": True, "betas": (0.8, 0.99)}, torch.optim.Adam, {"amsgrad": True, "betas": (0.8, 0.99)}),
    ({"name": "adamw"}, torch.optim.AdamW, {"weight_decay": 0.004}),
    ({"name": "adamw", "weight_decay": 0.0}, torch.optim.AdamW, {"weight_decay": 0.0}),
    ({"name": "rmsprop", "momentum": 0.5, "centered": True}, torch.optim.RMSprop,
     {"alpha": 0.9, "momentum": 0.5, "centered": True, "lr": 0.001}),
    ({"name": "adagrad", "lr": 0.05}, torch.optim.Adagrad, {"lr": 0.05, "initial_accumulator_value": 0.1}),
])
def test_optimizers_follow_keras_defaults_and_take_their_options(options, cls, expected):
    optimizer = build_optimizer(params(), OptimizerConfig(**options))
    assert type(optimizer) is cls
    group = optimizer.param_groups[0]
    assert {k: group[k] for k in expected} == expected


def test_schedules():
    optimizer = build_optimizer(params(), OptimizerConfig(name="sgd", lr=1.0))
    assert build_scheduler(optimizer, ScheduleConfig(), epochs=5) is None
    step = build_scheduler(optimizer, ScheduleConfig(name="step", step_size=2, gamma=0.5), epochs=5)
    assert isinstance(step, torch.optim.lr_scheduler.StepLR) and step.step_size == 2
    cosine = build_scheduler(optimizer, ScheduleConfig(name="cosine", min_lr=0.1), epochs=5)
    assert (cosine.T_max, cosine.eta_min) == (5, 0.1)
    plateau = build_scheduler(optimizer, ScheduleConfig(name="reduce_on_plateau", monitor="val_y/accuracy"), epochs=5)
    assert plateau.mode == "max" and plateau.threshold_mode == "abs"
