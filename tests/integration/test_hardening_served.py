"""Issue 13 against a real `layerloom serve` process (local mode, real HTTP).

13.4, local mode safety: a cross-site multipart upload and a foreign Host are refused, nothing stored.

13.1, memory denial of service through CSV: the server's peak resident memory (VmHWM, reset through
/proc/PID/clear_refs) is read around each request.

- An upload at the size limit (20 MB here, configured) peaks under 4x the file's size: the CSV is
  streamed row by row into typed buffers (it took ~36x, 900 MB for 25 MB, before).
- Five parallel ``samples`` calls grow the server by under 100 MB: they read the arrays stored at
  upload, memory-mapped, instead of parsing the whole file again for each call.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import pytest

MB = 1024 * 1024
LIMIT = 20 * MB


def status_bytes(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {key} in /proc/{pid}/status")


def reset_peak(pid: int) -> int:
    """Reset the process's peak RSS to its current RSS (Linux >= 4.0); returns that RSS."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")
    return status_bytes(pid, "VmRSS")


def write_csv(path: Path, max_bytes: int) -> int:
    """Twenty float features and a 3-class label, up to just under ``max_bytes``."""
    rng = np.random.default_rng(0)
    header = ",".join(f"f{i}" for i in range(20)) + ",label\n"
    size = len(header)
    with open(path, "w") as out:
        out.write(header)
        while True:
            block = "".join(",".join(f"{v:.6f}" for v in row) + f",{label}\n"
                            for row, label in zip(rng.random((500, 20)), rng.integers(0, 3, 500)))
            if size + len(block) > max_bytes:
                break
            out.write(block)
            size += len(block)
    return path.stat().st_size


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[tuple[subprocess.Popen, httpx.Client, Path]]:
    root = tmp_path_factory.mktemp("served")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LAYERLOOM_DATA_DIR": str(root / "data"), "LAYERLOOM_MAX_UPLOAD_BYTES": str(LIMIT),
           "OMP_NUM_THREADS": "1"}
    log = open(root / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "layerloom.cli", "serve", "--no-worker", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120, headers={"X-Layerloom-Client": "test"})
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "layerloom serve did not start"
            try:
                client.get("/api/health")
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield proc, client, root / "data"
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_a_cross_site_form_upload_and_a_foreign_host_are_refused_over_http(server) -> None:
    _, client, data_dir = server
    plain = httpx.Client(base_url=client.base_url, timeout=30)  # a browser's form: no client header
    evil = plain.post("/api/datasets", files={"file": ("evil.csv", b"a,y\n1,2\n3,4\n", "text/csv")},
                      headers={"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert evil.status_code == 403 and evil.json()["errors"][0]["code"] == "cross_site_request"
    formlike = plain.post("/api/datasets", files={"file": ("evil.csv", b"a,y\n1,2\n3,4\n", "text/csv")})
    assert formlike.status_code == 403
    rebound = plain.get("/api/graphs", headers={"Host": "evil.example"})
    assert rebound.status_code == 400 and rebound.json()["errors"][0]["code"] == "host_not_allowed"
    assert not (data_dir / "datasets").exists() or not any((data_dir / "datasets").iterdir())
    uploads = [d for d in plain.get("/api/datasets", params={"limit": 200}).json()["data"] if d["kind"] != "builtin"]
    assert uploads == []


@pytest.mark.slow
def test_a_csv_at_the_limit_peaks_under_4x_and_parallel_samples_stay_small(server, tmp_path: Path) -> None:
    proc, client, _ = server
    path = tmp_path / "big.csv"
    size = write_csv(path, LIMIT)
    assert size > 0.95 * LIMIT
    client.get("/api/datasets/iris/samples", params={"n": 1})  # warm the route's imports

    before = reset_peak(proc.pid)
    with open(path, "rb") as f:
        response = client.post("/api/datasets", files={"file": ("big.csv", f, "text/csv")})
    assert response.status_code == 201, response.text
    growth = status_bytes(proc.pid, "VmHWM") - before
    print(f"upload of {size / MB:.1f} MB: peak growth {growth / MB:.1f} MB ({growth / size:.2f}x)")
    assert growth < 4 * size, f"the upload grew the server by {growth / MB:.0f} MB for a {size / MB:.0f} MB file"
    dataset = response.json()
    assert dataset["description"]["sizes"]["train"] > 100_000

    before = reset_peak(proc.pid)
    with ThreadPoolExecutor(5) as pool:
        answers = list(pool.map(lambda _: client.get(f"/api/datasets/{dataset['id']}/samples", params={"n": 1}),
                                range(5)))
    growth = status_bytes(proc.pid, "VmHWM") - before
    print(f"five parallel samples calls: peak growth {growth / MB:.1f} MB")
    assert [a.status_code for a in answers] == [200] * 5
    assert answers[0].json()["samples"][0]["y"]["kind"] == "label"  # a last column of 0/1/2 reads as classes
    assert growth < 100 * MB, f"five samples calls grew the server by {growth / MB:.0f} MB"
