"""A worker that dies is noticed through its liveness beats, not its lease: with a 60 s lease, a
``kill -9``'d worker's job is re-queued within about 10 s, resumes from its checkpoint, and says so.
A real ``layerloom serve`` and a second ``layerloom worker`` beside it, as in a cluster: the survivor notices."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from test_serve import TERMINAL, Server, load_example, submit


@pytest.mark.slow
def test_a_killed_worker_is_noticed_within_seconds_not_at_the_end_of_its_lease(tmp_path) -> None:
    data_dir = tmp_path / "data"
    env = {"LAYERLOOM_LEASE_SECONDS": "60", "LAYERLOOM_HEARTBEAT_SECONDS": "10"}
    server = Server(data_dir, **env)
    second = None
    try:
        server.wait_ready()
        second = subprocess.Popen([sys.executable, "-m", "layerloom.cli", "worker"], start_new_session=True,
                                  env={**os.environ, "LAYERLOOM_DATA_DIR": str(data_dir), "OMP_NUM_THREADS": "1",
                                       **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 90
        while len(list((data_dir / "workers").glob("*.json"))) < 2:
            assert time.monotonic() < deadline, "the second worker did not start"
            time.sleep(0.5)
        job_id = submit(server, load_example("digits_cnn"), "digits", epochs=3, batch_size=32, seed=3)
        server.wait_for(job_id, lambda j: 1 in server.epochs_logged(job_id), timeout=120)
        # The worker's record names its job from its next heartbeat (every 2 s), which may come after
        # a fast first epoch.
        deadline = time.monotonic() + 15
        while not (records := [r for r in (json.loads(p.read_text()) for p in (data_dir / "workers").glob("*.json"))
                               if r["job"] == job_id]):
            assert time.monotonic() < deadline, "no worker's record names the job"
            time.sleep(0.2)
        record = records[0]
        os.kill(record["pid"], signal.SIGKILL)  # its runner dies with it
        killed_at = time.monotonic()
        server.wait_for(job_id, lambda j: j["attempt"] == 2, timeout=30)
        noticed = time.monotonic() - killed_at
        assert noticed < 15, f"re-queued {noticed:.1f} s after the kill (the lease is 60 s)"
        job = server.wait_for(job_id, lambda j: j["state"] in TERMINAL, timeout=180)
        assert job["state"] == "succeeded" and server.epochs_logged(job_id) == [1, 2, 3]
        messages = [e["payload"]["message"] for e in server.http.get(f"/api/jobs/{job_id}/events").json()
                    if e["type"] == "status" and e["payload"]["status"] == "interrupted"]
        assert len(messages) == 1 and "stopped answering" in messages[0]
        assert "Retrying from the checkpoint of epoch" in messages[0], messages
        print(f"\nre-queued {noticed:.1f} s after kill -9: {messages[0]}")
    finally:
        if second is not None and second.poll() is None:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(30)
        if server.proc.poll() is None:
            assert server.stop() == 0
        leftover = subprocess.run(["pgrep", "-f", str(data_dir)], capture_output=True, text=True).stdout.split()
        assert not leftover, f"processes left running: {leftover}"
