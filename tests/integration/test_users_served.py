"""Token mode against a real `layerloom serve` process over HTTP: a user made with
`layerloom user create --password-stdin` logs in; the session cookie comes back with its flags and
authenticates REST and the job websocket; a websocket from another origin is refused even with the
cookie; API clients keep bearer tokens and websocket tickets; logging out ends it all."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

SEED = json.loads((Path(__file__).parents[2] / "examples" / "seed_mlp.json").read_text())
PASSWORD = "served password 1"


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    root = tmp_path_factory.mktemp("served-token")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "LAYERLOOM_DATA_DIR": str(root / "data"), "LAYERLOOM_AUTH_MODE": "token",
           "OMP_NUM_THREADS": "1"}
    created = subprocess.run([sys.executable, "-m", "layerloom.cli", "user", "create", "alice", "--password-stdin"],
                             input=PASSWORD + "\n", env=env, capture_output=True, text=True, timeout=120)
    assert created.returncode == 0, created.stderr
    assert PASSWORD not in created.stdout + created.stderr
    log = open(root / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "layerloom.cli", "serve", "--no-worker", "--port", str(port)],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, "layerloom serve did not start"
            try:
                httpx.get(base + "/api/health", timeout=5)
                break
            except httpx.HTTPError:
                time.sleep(0.3)
        yield base, env
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_the_cookie_authenticates_rest_and_the_websocket_and_logout_ends_it(served) -> None:
    base, _ = served
    browser = httpx.Client(base_url=base, timeout=30, headers={"X-Layerloom-Client": "test"})
    login = browser.post("/api/session", json={"username": "alice", "password": PASSWORD})
    assert login.status_code == 204
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie and "Secure" not in cookie
    job = browser.post("/api/jobs", json={"graph": SEED, "dataset": "random_classification"})
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]
    session_cookie = f"layerloom_session={browser.cookies['layerloom_session']}"
    ws_url = base.replace("http", "ws") + f"/api/jobs/{job_id}/events"

    with connect(ws_url, additional_headers={"Cookie": session_cookie, "Origin": base}, open_timeout=30) as ws:
        first = json.loads(ws.recv(timeout=30))
    assert first["type"] == "status" and first["status"] == "queued" and first["seq"] == 1

    # Closed before it is accepted, which the server answers with a 403 to the handshake.
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url, additional_headers={"Cookie": session_cookie, "Origin": "http://evil.example"}, open_timeout=30)
    assert refused.value.response.status_code == 403

    # An API client: a bearer token made by the browser; the websocket takes a ticket.
    token = browser.post("/api/tokens", json={"name": "script"}).json()["token"]
    api = httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {token}"})
    ticket = api.post(f"/api/jobs/{job_id}/ticket").json()["ticket"]
    with connect(ws_url + f"?ticket={ticket}", open_timeout=30) as ws:
        assert json.loads(ws.recv(timeout=30))["seq"] == 1

    assert browser.delete("/api/session").status_code == 204
    assert browser.get("/api/me").status_code == 401
    stale = httpx.Client(base_url=base, timeout=30, headers={"Cookie": session_cookie})
    assert stale.get("/api/graphs").status_code == 401
    with pytest.raises(InvalidStatus) as refused:
        connect(ws_url, additional_headers={"Cookie": session_cookie, "Origin": base}, open_timeout=30)
    assert refused.value.response.status_code == 403
    assert api.get("/api/me").json()["name"] == "alice"  # tokens outlive the browser's session


def test_the_cli_disables_a_user_and_its_token_stops_at_once(served) -> None:
    base, env = served
    subprocess.run([sys.executable, "-m", "layerloom.cli", "user", "create", "bob", "--password-stdin"],
                   input=PASSWORD + "\n", env=env, check=True, capture_output=True, text=True, timeout=120)
    bob = httpx.Client(base_url=base, timeout=30, headers={"X-Layerloom-Client": "test"})
    assert bob.post("/api/session", json={"username": "bob", "password": PASSWORD}).status_code == 204
    token = bob.post("/api/tokens", json={"name": "ci"}).json()["token"]
    listed = subprocess.run([sys.executable, "-m", "layerloom.cli", "user", "list"], env=env, check=True,
                            capture_output=True, text=True, timeout=120).stdout
    assert "bob\tpassword" in listed
    subprocess.run([sys.executable, "-m", "layerloom.cli", "user", "disable", "bob"], env=env, check=True,
                   capture_output=True, text=True, timeout=120)
    assert bob.get("/api/me").status_code == 401
    assert httpx.get(base + "/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
