"""Optimizers and learning-rate schedules from the config."""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch.optim import lr_scheduler

from .config import OptimizerConfig, ScheduleConfig
from .mapping import monitor_mode

AnyScheduler = lr_scheduler.LRScheduler | lr_scheduler.ReduceLROnPlateau

KERAS_ADAMW_WEIGHT_DECAY = 0.004


def build_optimizer(params: Iterable[torch.nn.Parameter], config: OptimizerConfig) -> torch.optim.Optimizer:
    params = list(params)
    lr, eps = config.learning_rate, config.eps
    decay = config.weight_decay
    # Adam's fused kernel: one pass per tensor instead of a dozen small ops, the same update up to
    # float rounding; it is what makes the trainer at least as fast as a plain loop on small models.
    fused = {"fused": True} if params and all(p.is_floating_point() and p.device.type in ("cpu", "cuda")
                                               for p in params) else {}
    if config.name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=config.momentum, nesterov=config.nesterov, weight_decay=decay or 0.0)
    if config.name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=config.betas, eps=eps, weight_decay=decay or 0.0,
                                amsgrad=config.amsgrad, **fused)
    if config.name == "adamw":
        decay = KERAS_ADAMW_WEIGHT_DECAY if decay is None else decay
        return torch.optim.AdamW(params, lr=lr, betas=config.betas, eps=eps, weight_decay=decay, amsgrad=config.amsgrad,
                                 **fused)
    if config.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=lr, alpha=config.rho, eps=eps, weight_decay=decay or 0.0,
                                   momentum=config.momentum, centered=config.centered)
    if config.name == "adagrad":
        return torch.optim.Adagrad(params, lr=lr, eps=eps, weight_decay=decay or 0.0,
                                   initial_accumulator_value=config.initial_accumulator_value)
    raise ValueError(f"unknown optimizer {config.name!r}")  # the config's Literal makes this unreachable


def build_scheduler(optimizer: torch.optim.Optimizer, config: ScheduleConfig, epochs: int) -> AnyScheduler | None:
    """A scheduler stepped once per epoch, or None for a constant rate."""
    if config.name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=config.step_size, gamma=config.gamma)
    if config.name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs, eta_min=config.min_lr)
    if config.name == "reduce_on_plateau":
        # Keras reduces once `patience` epochs in a row fail to improve (0 and 1 alike); PyTorch once
        # more than `patience` have.
        return lr_scheduler.ReduceLROnPlateau(
            optimizer, mode=monitor_mode(config.monitor, config.mode), factor=config.factor,
            patience=max(config.patience - 1, 0),
            threshold=config.min_delta, threshold_mode="abs", min_lr=config.min_lr,
        )
    return None
