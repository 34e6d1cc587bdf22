"""Datasets that stream (issue 12): flat memory in the runner and the API, arrays larger than the
memory budget, exact results whichever way the data is read. Each measure runs in a fresh
interpreter and reads its own peak RSS (VmHWM) from /proc."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bench.datagen import GRAPH, image_zip

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads VmHWM from /proc")

PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""


def run_python(code: str, env: dict[str, str] | None = None) -> dict:
    environment = {**os.environ, "PYTHONPATH": f"{ROOT / 'backend'}{os.pathsep}{ROOT}", **(env or {})}
    done = subprocess.run([sys.executable, "-c", PEAK + code], capture_output=True, text=True, env=environment,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


TRAIN_ZIP = """
import json, sys
from layerloom.data.image_stream import index_image_zip, open_image_index
from layerloom.train import train
path = {path!r}
dataset = open_image_index(path, index_image_zip(path, image_size=(64, 64)), name="images")
result = train({graph}, dataset, {{"epochs": 1, "batch_size": 64, "data_loading": "auto", "data_workers": 1}})
print(json.dumps({{"peak": peak_mb(), "status": result.status, "logs": []}}))
"""


@pytest.mark.slow
def test_a_streamed_image_dataset_trains_in_flat_memory(tmp_path: Path) -> None:
    peaks = {}
    for count in (1000, 8000):
        path = image_zip(tmp_path / f"{count}.zip", count)
        # A budget below 1,000 decoded images (48 MiB): both runs stream under "auto".
        out = run_python(TRAIN_ZIP.format(path=str(path), graph=GRAPH), {"LAYERLOOM_DATA_MEMORY_BUDGET_MB": "32"})
        assert out["status"] == "succeeded"
        peaks[count] = out["peak"]
    print(f"runner peak RSS: 1,000 images {peaks[1000]:.0f} MB, 8,000 images {peaks[8000]:.0f} MB")
    # Decoded in memory, 8,000 images at 64x64 would add 375 MiB.
    assert peaks[8000] <= 1.25 * peaks[1000], peaks


ARRAYS = """
import json
import numpy as np
from pathlib import Path
from layerloom.data import Dataset
from layerloom.store.datasets import open_arrays, save_arrays
from layerloom.train import train
directory = Path({directory!r})
rng = np.random.default_rng(0)
n = 26_000
x = np.lib.format.open_memmap(directory / "x.npy", mode="w+", dtype=np.float32, shape=(n, 256))
for start in range(0, n, 2000):
    x[start:start + 2000] = rng.normal(size=(2000, 256)).astype(np.float32)
x.flush()
y = (np.asarray(x[:, 0]) > 0).astype(np.int64)
x = np.load(directory / "x.npy", mmap_mode="r")
save_arrays(Dataset("big", {{"train": {{"x": x, "y": y}}}}, {{"y": ["neg", "pos"]}}, {{"x": "features", "y": "class_labels"}}), directory)
dataset = open_arrays(directory)
graph = {{"format": "layerloom.graph", "version": 1, "name": "mlp",
         "nodes": [{{"id": "x", "type": "Input", "params": {{"shape": [256]}}}},
                   {{"id": "d", "type": "Dense", "params": {{"units": 2, "activation": "softmax"}}}},
                   {{"id": "y", "type": "Output", "params": {{"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}}}}],
         "edges": [{{"source": "x", "target": "d"}}, {{"source": "d", "target": "y"}}]}}
logs = []
class Logs:
    def on_event(self, event):
        if event.get("type") in ("log", "status"):
            logs.append(event.get("message", ""))
result = train(graph, dataset, {{"epochs": 2, "batch_size": 256, "data_workers": 1, "optimizer": {{"name": "adam", "lr": 0.02}}}}, callbacks=[Logs()])
print(json.dumps({{"peak": peak_mb(), "status": result.status, "accuracy": result.history[-1]["y/accuracy"],
                  "logs": logs, "bytes": int(dataset.splits["train"]["x"].nbytes)}}))
"""


@pytest.mark.slow
def test_a_memory_mapped_array_dataset_three_times_the_budget_trains(tmp_path: Path) -> None:
    out = run_python(ARRAYS.format(directory=str(tmp_path)), {"LAYERLOOM_DATA_MEMORY_BUDGET_MB": "8"})
    assert out["bytes"] >= 3 * 8 * 2**20  # 26.6 MB of features for an 8 MiB budget
    assert out["status"] == "succeeded"
    assert any("Streaming the data" in message for message in out["logs"]), out["logs"]
    assert out["accuracy"] > 0.8  # it learnt from every window, not from a truncated one


def test_streamed_and_in_memory_training_agree_and_resume_exactly(tmp_path: Path) -> None:
    from layerloom.data.image_stream import index_image_zip, open_image_index
    from layerloom.train import train

    path = image_zip(tmp_path / "small.zip", 160, valid=40)
    dataset = open_image_index(path, index_image_zip(path, image_size=(64, 64)), name="small")
    config = {"epochs": 3, "batch_size": 32, "data_workers": 1}
    memory = train(GRAPH, dataset, {**config, "data_loading": "memory"}).history
    stream = train(GRAPH, dataset, {**config, "data_loading": "stream"}).history
    assert [e["loss"] for e in stream] == pytest.approx([e["loss"] for e in memory], abs=1e-6)

    run = tmp_path / "run"
    train(GRAPH, dataset, {**config, "epochs": 2, "data_loading": "stream"}, out_dir=run)
    resumed = train(GRAPH, dataset, {**config, "data_loading": "stream"}, out_dir=run, resume=True).history
    assert resumed[-1]["loss"] == pytest.approx(stream[-1]["loss"], abs=1e-6)
    assert np.isfinite(resumed[-1]["val_loss"])


def _status_bytes(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


@pytest.mark.slow
def test_uploading_8000_images_raises_the_api_rss_by_under_100_mb(tmp_path: Path) -> None:
    import socket
    import time

    import httpx

    path = image_zip(tmp_path / "images.zip", 8000)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LAYERLOOM_DATA_DIR": str(tmp_path / "data"), "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(ROOT / "backend")}
    with open(tmp_path / "serve.log", "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "layerloom.cli", "serve", "--no-worker", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=180,
                              headers={"X-Layerloom-Client": "test"})
        try:
            deadline = time.monotonic() + 90
            while True:
                assert proc.poll() is None and time.monotonic() < deadline, "layerloom serve did not start"
                try:
                    client.get("/api/health")
                    break
                except httpx.HTTPError:
                    time.sleep(0.3)
            client.get("/api/datasets/iris/samples", params={"n": 1})  # the route's imports, before measuring
            Path(f"/proc/{proc.pid}/clear_refs").write_text("5")  # peak := now (Linux >= 4.0)
            before = _status_bytes(proc.pid, "VmRSS")
            with open(path, "rb") as f:
                response = client.post("/api/datasets", files={"file": ("images.zip", f, "application/zip")},
                                       data={"options": json.dumps({"image_size": [64, 64]})})
            assert response.status_code == 201, response.text[:2000]
            samples = client.get(f"/api/datasets/{response.json()['id']}/samples", params={"n": 4})
            growth = _status_bytes(proc.pid, "VmHWM") - before
        finally:
            proc.terminate()
            proc.wait(30)
    assert samples.status_code == 200 and samples.json()["samples"][0]["x"]["kind"] == "image"
    assert response.json()["description"]["sizes"] == {"train": 8000}
    stored = {p.name for p in (tmp_path / "data" / "datasets" / response.json()["id"]).iterdir()}
    assert stored == {"images.zip", "index.json"}  # the zip as it came and its index; nothing decoded
    print(f"upload of {path.stat().st_size / 2**20:.1f} MB zip (8,000 images): API peak growth {growth / 2**20:.1f} MB")
    # Decoded, the images would take 375 MiB (they did, twice over, before).
    assert growth < 100 * 2**20
