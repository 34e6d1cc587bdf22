"""The GPU path options of a run: mixed precision, channels_last memory format, torch.compile, and
device timing with CUDA events. Each runs on the CPU too (bfloat16 autocast, channels_last
tensors, compilation with inductor's C++ backend), so the CPU tests cover the same code.

    amp = amp_dtype(config, device, notes)
    accelerate(engine, model, config, device, notes, log)   # after the Engine is built

A failed compilation never fails the run: the first call that raises falls back to the eager
forward for good, and says why in a log event.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from .config import TrainConfig


def amp_dtype(config: TrainConfig, device: torch.device, notes: list[str]) -> torch.dtype | None:
    """The autocast dtype: float16 or bfloat16 on CUDA; bfloat16 only on the CPU (its autocast
    has no loss scaling, and float16 matmuls there are slower than float32)."""
    if not config.amp:
        return None
    if device.type == "cuda":
        return torch.float16 if config.amp_dtype == "float16" else torch.bfloat16
    if config.amp_dtype == "bfloat16":
        return torch.bfloat16
    notes.append(f"Mixed precision (amp) in float16 needs CUDA; training in float32 on {device} "
                 f"(amp_dtype bfloat16 runs autocast on the CPU).")
    return None


def has_conv2d(model: nn.Module) -> bool:
    return any(isinstance(m, nn.Conv2d) for m in model.modules())


def wants_channels_last(config: TrainConfig, device: torch.device, model: nn.Module) -> bool:
    """channels_last: as configured, or (auto) on CUDA for a graph with 2-D convolutions, where
    cuDNN's NHWC kernels use the tensor cores without transposes."""
    if config.channels_last is not None:
        return config.channels_last
    return device.type == "cuda" and has_conv2d(model)


def _channels_last_inputs(forward: Callable[[dict[str, torch.Tensor]], Any]) -> Callable[[dict[str, torch.Tensor]], Any]:
    def run(inputs: dict[str, torch.Tensor]) -> Any:
        return forward({k: v.contiguous(memory_format=torch.channels_last) if v.dim() == 4 else v
                        for k, v in inputs.items()})
    return run


class CompiledForward:
    """torch.compile of a forward, with a permanent fallback to eager on the first failure."""

    def __init__(self, eager: Callable[..., Any], log: Callable[[str], None],
                 compiler: Callable[..., Callable[..., Any]] | None = None) -> None:
        self.eager, self.log = eager, log
        self.failed: str | None = None
        try:
            self.compiled = (compiler or torch.compile)(eager)
        except Exception as err:  # e.g. no compiler support on this platform
            self._fall_back(err)

    def _fall_back(self, err: Exception) -> None:
        first_line = (str(err).strip().splitlines() or [""])[0][:300]
        self.failed = f"{type(err).__name__}: {first_line}"
        self.log(f"torch.compile failed ({self.failed}); training continues without compilation.")

    def __call__(self, inputs: dict[str, torch.Tensor]) -> Any:
        if self.failed is None:
            try:
                return self.compiled(inputs)
            except Exception as err:
                self._fall_back(err)
        return self.eager(inputs)


def accelerate(engine: Any, model: nn.Module, config: TrainConfig, device: torch.device, notes: list[str],
               log: Callable[[str], None], compiler: Callable[..., Callable[..., Any]] | None = None) -> None:
    """Apply channels_last and compile to ``engine``'s forward (the model's weights move too)."""
    if wants_channels_last(config, device, model):
        model.to(memory_format=torch.channels_last)
        engine.forward = _channels_last_inputs(engine.forward)
        notes.append("Training with the channels_last memory format.")
    if config.compile:
        engine.forward = CompiledForward(engine.forward, log, compiler)
        if engine.forward.failed is None:
            notes.append("The model is compiled with torch.compile on its first step.")


class DeviceTimer:
    """Elapsed seconds of device work: CUDA events on CUDA (no host synchronisation until read),
    a monotonic clock after a synchronisation elsewhere."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def start(self) -> Any:
        if self.cuda:
            event = torch.cuda.Event(enable_timing=True)
            event.record()
            return event
        return time.perf_counter()

    def seconds_since(self, start: Any) -> float:
        if self.cuda:
            end = torch.cuda.Event(enable_timing=True)
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000.0
        return time.perf_counter() - start
