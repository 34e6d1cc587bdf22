"""The GPU path in one call: bf16 matrix peak, then a conv net's training step in float32, AMP
float16 and bfloat16, channels_last and torch.compile, timed with CUDA events, and the trainer
end to end with those options. Prints each configuration's achieved fraction of the bf16 peak.

    .venv/bin/python bench/gpu.py [--graph examples/resnet50.json] [--batch 128] [--steps 20] [--no-compile]

1. Peak: the best of large square bfloat16 matmuls (2·n³ FLOP each), timed with CUDA events.
2. Conv net: the graph built by Layerloom, stepped by the trainer's own Engine with the options
   applied by ``train/acceleration.py`` (the code the trainer runs), SGD with momentum, random
   images already on the GPU (data loading is not measured). FLOP per step come from
   ``torch.utils.flop_counter`` on one float32 step (forward and backward).
3. The trainer end to end (``train``) on a small random image set, once per AMP dtype with
   compile and channels_last, which must succeed without falling back to eager.

Without CUDA it says so and exits with status 2 (no traceback). ``--dry-run-cpu`` runs every step
on the CPU with tiny sizes (the clock instead of CUDA events, no float16): the tests use it to keep
this script's code working where there is no GPU; its figures mean nothing. Every figure is printed as it is
measured, and a JSON summary is printed last.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "backend"))


def refuse_without_cuda() -> None:
    if torch.cuda.is_available():
        return
    built = torch.version.cuda or "no CUDA"
    print(f"bench/gpu.py needs a CUDA GPU: torch.cuda.is_available() is False here (torch {torch.__version__}, "
          f"built with {built}). Run it on a machine with an NVIDIA GPU and a CUDA build of torch.", file=sys.stderr)
    raise SystemExit(2)


DEVICE = torch.device("cuda")


def say(line: str) -> None:
    print(line, flush=True)


def cuda_seconds(fn, iterations: int) -> float:
    """Seconds per call of ``fn`` on the GPU, between two CUDA events (after one warm-up call)."""
    from layerloom.train.acceleration import DeviceTimer

    fn()
    if DEVICE.type == "cuda":
        torch.cuda.synchronize()
    timer = DeviceTimer(DEVICE)
    start = timer.start()
    for _ in range(iterations):
        fn()
    return timer.seconds_since(start) / iterations


def bf16_peak(sizes=(4096, 8192, 16384)) -> float:
    best = 0.0
    for n in sizes:
        a = torch.randn(n, n, device=DEVICE, dtype=torch.bfloat16)
        b = torch.randn(n, n, device=DEVICE, dtype=torch.bfloat16)
        for _ in range(3):
            a @ b
        seconds = cuda_seconds(lambda: a @ b, 20 if n < 16384 else 8)
        rate = 2 * n ** 3 / seconds
        say(f"bf16 matmul {n}x{n}: {rate / 1e12:.1f} TFLOP/s")
        best = max(best, rate)
        del a, b
    return best


def build(graph: dict, batch: int):
    from layerloom.data import Dataset
    from layerloom.graph import analyze, build_model
    from layerloom.train.config import TrainConfig
    from layerloom.train.mapping import check_compatibility

    analysis = analyze(graph)
    if not analysis.ok:
        raise SystemExit(f"the graph has errors: {analysis.errors[:3]}")
    (input_id,), (head_id,) = analysis.input_ids, analysis.output_ids
    shape = analysis.nodes[input_id].output.shape
    classes = analysis.nodes[head_id].output.shape[-1]
    labels = torch.arange(8) % classes
    dataset = Dataset.from_arrays("random", {"train": {input_id: torch.rand(8, *shape).numpy(), head_id: labels.numpy()}},
                                  class_names={head_id: [str(i) for i in range(classes)]})
    plan = check_compatibility(analysis, dataset, TrainConfig())
    inputs = {input_id: torch.rand(batch, *shape, device=DEVICE)}
    targets = [torch.randint(0, classes, (batch,), device=DEVICE)]
    return analysis, build_model, plan, inputs, targets, dataset


def step_flops(graph: dict, batch: int) -> float:
    from torch.utils.flop_counter import FlopCounterMode

    from layerloom.train.engine import Engine

    analysis, build_model, plan, inputs, targets, _ = build(graph, batch)
    model = build_model(analysis, seed=0).to(DEVICE).train()
    engine = Engine(model, plan, None, DEVICE.type)
    counter = FlopCounterMode(display=False)
    with counter:
        total, *_ = engine.batch_losses(inputs, targets)
        total.backward()
    return float(counter.get_total_flops())


def time_configuration(graph: dict, batch: int, steps: int, *, amp: str | None, channels_last: bool,
                       compile_: bool) -> tuple[float, str | None]:
    """Seconds per training step with these options, and the compile failure if there was one."""
    from layerloom.train.acceleration import accelerate, amp_dtype
    from layerloom.train.config import TrainConfig
    from layerloom.train.engine import Engine

    analysis, build_model, plan, inputs, targets, _ = build(graph, batch)
    config = TrainConfig(amp=amp is not None, amp_dtype=amp or "float16", channels_last=channels_last, compile=compile_)
    device = torch.device("cuda", torch.cuda.current_device()) if DEVICE.type == "cuda" else DEVICE
    model = build_model(analysis, seed=0).to(device).train()
    notes: list[str] = []
    logs: list[str] = []
    engine = Engine(model, plan, amp_dtype(config, device, notes), device.type)
    accelerate(engine, model, config, device, notes, logs.append)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    scaler = torch.amp.GradScaler(device.type) if engine.amp_dtype == torch.float16 else None

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        total, *_ = engine.batch_losses(inputs, targets)
        if scaler is None:
            total.backward()
            optimizer.step()
        else:
            scaler.scale(total).backward()
            scaler.step(optimizer)
            scaler.update()

    for _ in range(3 if compile_ else 2):  # compilation (and its recompiles) happen here
        step()
    seconds = cuda_seconds(step, steps)
    failed = getattr(engine.forward, "failed", None)
    return seconds, failed or (logs[0] if logs else None)


def trainer_end_to_end(graph: dict, n: int = 256, compile_: bool = True) -> list[dict]:
    """``train`` itself with AMP, channels_last (auto on CUDA) and compile: status and fallbacks."""
    import numpy as np

    from layerloom.data import Dataset
    from layerloom.graph import analyze
    from layerloom.train import train

    analysis = analyze(graph)
    (input_id,), (head_id,) = analysis.input_ids, analysis.output_ids
    shape, classes = analysis.nodes[input_id].output.shape, analysis.nodes[head_id].output.shape[-1]
    rng = np.random.default_rng(0)
    data = Dataset.from_arrays("random", {
        "train": {input_id: rng.random((n, *shape), dtype=np.float32), head_id: rng.integers(0, classes, n)},
        "valid": {input_id: rng.random((64, *shape), dtype=np.float32), head_id: rng.integers(0, classes, 64)},
    }, class_names={head_id: [str(i) for i in range(classes)]})
    results = []
    for amp in ("bfloat16", "float16"):
        logs: list[str] = []

        class Logs:
            def on_event(self, event):
                if event["type"] == "log":
                    logs.append(event["message"])

        started = time.perf_counter()
        result = train(graph, data, {"epochs": 2, "batch_size": 32, "device": DEVICE.type, "amp": True,
                                     "amp_dtype": amp, "compile": compile_}, callbacks=[Logs()])
        row = {"amp_dtype": amp, "status": result.status, "seconds": round(time.perf_counter() - started, 1),
               "loss": [round(h["loss"], 4) for h in result.history],
               "channels_last": any("channels_last" in m for m in logs),
               "compile_fallback": next((m for m in logs if "torch.compile failed" in m), None)}
        say(f"trainer end to end: {json.dumps(row)}")
        results.append(row)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--graph", default=str(ROOT / "examples" / "resnet50.json"))
    parser.add_argument("--end-to-end-graph", default=str(ROOT / "examples" / "toy_resnet.json"))
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--dry-run-cpu", action="store_true", help="tiny sizes on the CPU: checks the code, not the GPU")
    args = parser.parse_args()
    global DEVICE
    if args.dry_run_cpu:
        DEVICE = torch.device("cpu")
        args.no_compile, args.steps = True, 2
        device_name = "CPU (dry run)"
    else:
        refuse_without_cuda()
        torch.backends.cudnn.benchmark = True
        device_name = torch.cuda.get_device_name()
    say(f"device: {device_name} (torch {torch.__version__}, CUDA {torch.version.cuda})")
    peak = bf16_peak((256,) if args.dry_run_cpu else (4096, 8192, 16384))
    graph = json.loads(Path(args.graph).read_text())
    flops = step_flops(graph, args.batch)
    say(f"{graph['name']}: {flops / 1e9:.1f} GFLOP per training step of {args.batch}")
    configurations = [
        ("float32", None, False, False),
        ("amp float16", "float16", False, False),
        ("amp bfloat16", "bfloat16", False, False),
        ("amp bfloat16 + channels_last", "bfloat16", True, False),
        ("amp float16 + channels_last", "float16", True, False),
    ]
    if not args.no_compile:
        configurations.append(("amp bfloat16 + channels_last + compile", "bfloat16", True, True))
    rows = []
    for name, amp, channels_last, compile_ in configurations:
        started = time.perf_counter()
        seconds, failed = time_configuration(graph, args.batch, args.steps, amp=amp, channels_last=channels_last,
                                             compile_=compile_)
        row = {"configuration": name, "step_ms": round(seconds * 1000, 2), "images_per_s": round(args.batch / seconds),
               "tflops": round(flops / seconds / 1e12, 1), "fraction_of_bf16_peak": round(flops / seconds / peak, 3),
               "wall_s": round(time.perf_counter() - started, 1)}
        if failed:
            row["compile_fallback"] = failed
        say(f"{name:42s} {row['step_ms']:8.2f} ms/step  {row['images_per_s']:7d} img/s  {row['tflops']:6.1f} TFLOP/s  "
            f"{row['fraction_of_bf16_peak']:.3f} of bf16 peak" + (f"  (compile fell back: {failed})" if failed else ""))
        rows.append(row)
        if DEVICE.type == "cuda":
            torch.cuda.empty_cache()
    end_to_end = trainer_end_to_end(json.loads(Path(args.end_to_end_graph).read_text()),
                                    n=32 if args.dry_run_cpu else 256, compile_=not args.no_compile)
    best = max(rows, key=lambda r: r["fraction_of_bf16_peak"])
    say(f"best: {best['configuration']} at {best['fraction_of_bf16_peak']:.3f} of the measured bf16 peak "
        f"({peak / 1e12:.0f} TFLOP/s)")
    print(json.dumps({"device": device_name, "bf16_peak_tflops": round(peak / 1e12, 1),
                      "graph": graph["name"], "batch": args.batch, "gflop_per_step": round(flops / 1e9, 1),
                      "configurations": rows, "trainer_end_to_end": end_to_end}), flush=True)


if __name__ == "__main__":
    main()
