"""Start-up cost: what `layerloom check`, the analysis and a job's runner import (each in a fresh
interpreter, inspecting ``sys.modules``), and the early step event that moves the chart at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
HEAVY_FOR_CHECK = ("torch", "fastapi", "starlette", "sklearn", "scipy", "sqlalchemy", "celery")
HEAVY_FOR_RUNNER = ("fastapi", "starlette", "sklearn", "scipy", "sqlalchemy", "celery")

REPORT_MODULES = (
    "import sys, json; "
    "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules} & set(json.loads(sys.argv[-1])))))"
)


def imported_after(code: str, watched: tuple[str, ...], *args: str) -> list[str]:
    """The top-level packages among ``watched`` that running ``code`` in a fresh interpreter imported."""
    out = subprocess.run([sys.executable, "-c", f"{code}\n{REPORT_MODULES}", *args, json.dumps(watched)],
                         capture_output=True, text=True, cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_check_imports_neither_torch_nor_the_api_nor_the_database() -> None:
    code = ("import contextlib, io; from layerloom.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): assert main(['check', 'examples/seed_mlp.json']) == 0")
    assert imported_after(code, HEAVY_FOR_CHECK) == []


def test_check_on_the_big_block_examples_imports_no_torch() -> None:
    """ResNet50 and EfficientNetB0 (blocks, Normalization, Lambda-free but every new layer family):
    `check` expands and analyses them without loading torch (the 1.5 s goal of bench/compile.py)."""
    code = ("import contextlib, io; from layerloom.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n"
            "    assert main(['check', 'examples/resnet50.json']) == 0\n"
            "    assert main(['check', '--expand', 'examples/efficientnet_b0.json']) == 0")
    assert imported_after(code, HEAVY_FOR_CHECK) == []


def test_check_json_and_the_analysis_stay_light_too() -> None:
    code = ("import contextlib, io, json; from layerloom.cli import main; from layerloom.graph import analyze\n"
            "with contextlib.redirect_stdout(io.StringIO()): assert main(['check', '--json', 'examples/toy_resnet.json']) == 0\n"
            "assert analyze(json.load(open('examples/two_head.json'))).ok")
    assert imported_after(code, HEAVY_FOR_CHECK) == []


def test_the_parser_for_every_subcommand_builds_without_heavy_imports() -> None:
    code = "from layerloom.cli import build_parser; build_parser().parse_args(['token', 'create', 'ann'])"
    assert imported_after(code, HEAVY_FOR_CHECK) == []


def write_csv_job(job_dir: Path, epochs: int = 2) -> None:
    """A job directory as the supervisor writes it: an uploaded CSV (with no valid split, so the
    runner carves one, stratified) and the seed MLP's little sibling."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 4))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    csv = job_dir / "data.csv"
    job_dir.mkdir(parents=True)
    lines = ["a,b,c,d,label"] + [",".join(f"{v:.4f}" for v in row) + f",{t}" for row, t in zip(x, y)]
    csv.write_text("\n".join(lines) + "\n")
    graph = {
        "format": "layerloom.graph", "version": 1, "name": "csv-mlp",
        "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4]}},
                  {"id": "d1", "type": "Dense", "params": {"units": 8, "activation": "relu"}},
                  {"id": "d2", "type": "Dense", "params": {"units": 2, "activation": "softmax"}},
                  {"id": "y", "type": "Output", "params": {"loss": "sparse_categorical_crossentropy",
                                                           "metrics": ["accuracy"]}}],
        "edges": [{"source": "x", "target": "d1"}, {"source": "d1", "target": "d2"}, {"source": "d2", "target": "y"}],
    }
    spec = {"graph": graph,
            "dataset": {"kind": "csv", "name": "toy.csv", "path": str(csv),
                        "options": {"targets": {"y": {"column": "label", "kind": "categorical"}}},
                        "max_bytes": 10_000_000},
            "config": {"epochs": epochs, "batch_size": 16, "validation_split": 0.2}, "last_epoch_logged": 0}
    (job_dir / "spec.json").write_text(json.dumps(spec))


def test_a_job_on_an_uploaded_csv_never_imports_sklearn_nor_the_service(tmp_path: Path) -> None:
    job = tmp_path / "job"
    write_csv_job(job)
    code = ("import contextlib, io, sys; from layerloom.jobs.runner import main\n"
            "out = io.StringIO()\n"
            "with contextlib.redirect_stdout(out): code = main([sys.argv[1]])\n"
            "assert code == 0, out.getvalue()")
    assert imported_after(code, HEAVY_FOR_RUNNER, str(job)) == []
    assert (job / "run" / "results.json").is_file()


def test_a_job_on_a_built_in_imports_sklearn_only_the_first_time_on_a_machine(tmp_path: Path) -> None:
    """The first job makes the machine's copy (.npy per array and split); later ones map it."""
    cache = tmp_path / "cache" / "builtins"
    seed = json.loads((REPO / "examples" / "seed_mlp.json").read_text())
    runs = []
    for attempt in (1, 2):
        job = tmp_path / f"job{attempt}"
        job.mkdir()
        (job / "spec.json").write_text(json.dumps({
            "graph": seed, "dataset": {"kind": "builtin", "name": "random_classification", "cache": str(cache)},
            "config": {"epochs": 1, "batch_size": 32}, "last_epoch_logged": 0}))
        code = ("import contextlib, io, sys; from layerloom.jobs.runner import main\n"
                "out = io.StringIO()\n"
                "with contextlib.redirect_stdout(out): code = main([sys.argv[1]])\n"
                "assert code == 0, out.getvalue()")
        runs.append(imported_after(code, HEAVY_FOR_RUNNER, str(job)))
        assert (job / "run" / "results.json").is_file()
    assert "sklearn" in runs[0] and runs[1] == [], runs  # the second job maps the first one's copy
    [copy] = cache.iterdir()
    assert copy.name.startswith("random_classification-") and sorted(p.name for p in (copy / "arrays").glob("*.npy"))

    from layerloom.data import load_builtin
    from layerloom.store.datasets import open_builtin

    mapped, made = open_builtin("random_classification", cache), load_builtin("random_classification")
    assert isinstance(mapped.splits["train"]["x"], np.memmap)
    for split, arrays in made.splits.items():
        for name, values in arrays.items():
            np.testing.assert_array_equal(mapped.splits[split][name], values)
    assert mapped.describe() == made.describe()


def test_a_built_in_is_still_served_when_its_copy_cannot_be_written(tmp_path: Path) -> None:
    from layerloom.data import load_builtin
    from layerloom.store.datasets import open_builtin

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    dataset = open_builtin("iris", blocked / "builtins")
    np.testing.assert_array_equal(dataset.splits["train"]["x"], load_builtin("iris").splits["train"]["x"])


def test_the_runner_sends_a_step_event_as_soon_as_the_first_loss_is_known(tmp_path: Path) -> None:
    job = tmp_path / "job"
    write_csv_job(job)
    out = subprocess.run([sys.executable, "-m", "layerloom.jobs.runner", str(job)], capture_output=True, text=True,
                         cwd=REPO, timeout=600, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    events = [json.loads(line) for line in out.stdout.splitlines()]
    progress = [e for e in events if e["type"] in ("step", "epoch")]
    first = progress[0]
    assert first["type"] == "step" and first["epoch"] == 1 and first["step"] == 1, first
    assert np.isfinite(first["metrics"]["loss"])


def test_the_first_step_is_reported_at_once_but_an_explicit_interval_is_followed_exactly() -> None:
    from layerloom.data import Dataset
    from layerloom.train import train

    rng = np.random.default_rng(0)
    data = Dataset.from_arrays("toy", {"train": {"x": rng.normal(size=(64, 4)).astype(np.float32),
                                                 "y": rng.integers(0, 3, 64)}})
    graph = json.loads((REPO / "examples" / "iris_mlp.json").read_text())
    graph["nodes"][0]["params"]["shape"] = [4]

    class Progress:
        def __init__(self) -> None:
            self.events: list[dict] = []

        def on_event(self, event: dict) -> None:
            if event["type"] in ("step", "epoch"):
                self.events.append(event)

    automatic, explicit = Progress(), Progress()
    train(graph, data, {"epochs": 2, "batch_size": 8}, callbacks=[automatic])
    train(graph, data, {"epochs": 2, "batch_size": 8, "log_every_steps": 3}, callbacks=[explicit])
    assert [(e["type"], e["step"]) for e in automatic.events][:2] == [("step", 1), ("epoch", 8)]
    assert [e["step"] for e in explicit.events if e["type"] == "step"] == [3, 6, 11, 14]
