"""The GPU path options on the CPU: bfloat16 autocast, channels_last, torch.compile (through
dynamo with its eager backend: inductor's C++ build takes minutes on a loaded 2-core machine)
and its fallback when compilation fails, and the device timer. bench/gpu.py runs the same options
on CUDA; here, its refusal without CUDA."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from layerloom.data import Dataset
from layerloom.train import train
from layerloom.train.acceleration import CompiledForward, DeviceTimer
from layerloom.train.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]


class Recorder:
    def __init__(self) -> None:
        self.events: list[dict] = []

    def on_event(self, event):
        self.events.append(event)

    def logs(self) -> list[str]:
        return [e["message"] for e in self.events if e["type"] == "log"]


def conv_graph() -> dict:
    nodes = [{"id": "x", "type": "Input", "params": {"shape": [2, 6, 6]}},
             {"id": "conv", "type": "Conv2D", "params": {"filters": 4, "kernel_size": 3, "activation": "relu"}},
             {"id": "pool", "type": "GlobalAveragePooling2D"},
             {"id": "out", "type": "Dense", "params": {"units": 3, "activation": "softmax"}},
             {"id": "y", "type": "Output", "params": {"loss": "sparse_categorical_crossentropy"}}]
    order = [n["id"] for n in nodes]
    return {"format": "layerloom.graph", "version": 1, "name": "tiny-conv", "nodes": nodes,
            "edges": [{"source": a, "target": b} for a, b in zip(order, order[1:])]}


def images() -> Dataset:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 96)
    x = (rng.normal(size=(96, 2, 6, 6)) + y[:, None, None, None]).astype(np.float32)
    return Dataset.from_arrays("toy-images", {"train": {"x": x[:64], "y": y[:64]}, "valid": {"x": x[64:], "y": y[64:]}})


CONFIG = {"epochs": 2, "batch_size": 16, "seed": 3, "optimizer": {"name": "sgd", "lr": 0.05}}


def run(**config):
    recorder = Recorder()
    trainer = Trainer(conv_graph(), images(), {**CONFIG, **config}, callbacks=[recorder])
    return trainer, trainer.run(), recorder


def losses(result) -> np.ndarray:
    return np.array([[h["loss"], h["val_loss"]] for h in result.history])


def test_bfloat16_autocast_runs_on_the_cpu():
    trainer, result, recorder = run(amp=True, amp_dtype="bfloat16")
    assert result.status == "succeeded" and trainer.engine.amp_dtype == torch.bfloat16
    seen = []
    handle = trainer.model.conv.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    trainer.engine.batch_losses({"x": torch.randn(4, 2, 6, 6)}, [torch.zeros(4, dtype=torch.int64)])
    handle.remove()
    assert seen == [torch.bfloat16]  # the convolution really ran in bfloat16
    # bfloat16's 8-bit mantissa: close to float32, not equal.
    np.testing.assert_allclose(losses(result), losses(run()[1]), rtol=0.05)


def test_float16_amp_on_the_cpu_trains_in_float32_and_says_so():
    trainer, result, recorder = run(amp=True)
    assert result.status == "succeeded" and trainer.engine.amp_dtype is None
    assert any("float16 needs CUDA" in m for m in recorder.logs())


def test_channels_last_gives_the_same_training_and_is_auto_only_on_cuda():
    trainer, result, recorder = run(channels_last=True)
    assert trainer.model.conv.weight.is_contiguous(memory_format=torch.channels_last)
    assert any("channels_last" in m for m in recorder.logs())
    auto, plain, _ = run()
    assert not auto.model.conv.weight.is_contiguous(memory_format=torch.channels_last)  # auto: CPU stays NCHW
    np.testing.assert_allclose(losses(result), losses(plain), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_compile_traces_the_model_and_trains_the_same(monkeypatch):
    torch._dynamo.reset()
    calls = []
    real = torch.compile

    def eager_backend_compile(fn, **kwargs):
        calls.append(fn)
        return real(fn, backend="eager", **kwargs)  # dynamo's graph capture, no C++ build

    monkeypatch.setattr(torch, "compile", eager_backend_compile)
    trainer, result, recorder = run(compile=True)
    assert result.status == "succeeded" and len(calls) == 1
    assert isinstance(trainer.engine.forward, CompiledForward) and trainer.engine.forward.failed is None
    assert any("torch.compile" in m for m in recorder.logs())
    monkeypatch.setattr(torch, "compile", real)
    np.testing.assert_allclose(losses(result), losses(run()[1]), rtol=1e-5, atol=1e-6)


def test_a_failed_compilation_falls_back_to_eager_with_a_log_message(monkeypatch):
    def broken_compile(fn, **kwargs):
        def compiled(*args):
            raise RuntimeError("inductor: no C++ compiler found\nlong traceback")
        return compiled

    monkeypatch.setattr(torch, "compile", broken_compile)
    trainer, result, recorder = run(compile=True)
    assert result.status == "succeeded"
    failures = [m for m in recorder.logs() if "torch.compile failed" in m]
    assert failures == ["torch.compile failed (RuntimeError: inductor: no C++ compiler found); "
                        "training continues without compilation."]
    monkeypatch.undo()
    assert result.history == run()[1].history  # exactly the eager run


def test_compile_refused_at_once_falls_back_too():
    logged = []

    def refusing(fn):
        raise RuntimeError("Python 3.99 is not supported by torch.compile")

    forward = CompiledForward(lambda inputs: inputs["x"] * 2, logged.append, compiler=refusing)
    assert forward({"x": torch.ones(2)}).tolist() == [2.0, 2.0] and len(logged) == 1 and forward.failed


def test_device_timer_on_the_cpu():
    timer = DeviceTimer(torch.device("cpu"))
    start = timer.start()
    torch.randn(200, 200) @ torch.randn(200, 200)
    assert 0 < timer.seconds_since(start) < 10


def test_bench_gpu_refuses_cleanly_without_cuda():
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA: bench/gpu.py would run for real")
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py")], capture_output=True, text=True,
                            timeout=120, cwd=ROOT, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT / "backend")})
    assert result.returncode == 2, result.stderr
    assert "needs a CUDA GPU" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_bench_gpu_code_runs_end_to_end_as_a_cpu_dry_run():
    result = subprocess.run([sys.executable, str(ROOT / "bench" / "gpu.py"), "--dry-run-cpu", "--graph",
                             str(ROOT / "examples" / "toy_resnet.json"), "--batch", "4"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["device"] == "CPU (dry run)" and summary["gflop_per_step"] > 0
    assert [r["configuration"] for r in summary["configurations"]][:3] == ["float32", "amp float16", "amp bfloat16"]
    assert all(0 < r["fraction_of_bf16_peak"] for r in summary["configurations"])
    assert [r["status"] for r in summary["trainer_end_to_end"]] == ["succeeded", "succeeded"]
