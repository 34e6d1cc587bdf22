"""Starting the real backend (``layerloom serve``, which serves the built editor) and Debian's
Chromium, for the end-to-end tests (conftest.py) and bench/editor.py. No pytest here."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
FRONTEND = ROOT / "frontend"
DIST = FRONTEND / "dist"
ARTIFACTS = HERE / "artifacts"  # screenshots kept by the tests (gitignored)
VIEWPORT = {"width": 1440, "height": 900}
CHROMIUM = os.environ.get("LAYERLOOM_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def ci() -> bool:
    """CI is set: missing tools fail the end-to-end tests instead of skipping them."""
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


class Server:
    """A running backend: its base URL, and its data directory."""

    def __init__(self, url: str, data_dir: Path) -> None:
        self.url = url
        self.data_dir = data_dir

    def api(self, method: str, path: str, body: Any = None) -> Any:
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.url}/api{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as res:
            return json.loads(res.read() or b"null")


class BuildMissing(RuntimeError):
    pass


def ensure_built() -> None:
    """Build frontend/dist when it is missing (npm ci first if node_modules is missing too). A lock
    file keeps parallel test workers (pytest -n) from building at the same time."""
    if (DIST / "index.html").exists():
        return
    npm = shutil.which("npm")
    if not npm:
        raise BuildMissing("frontend/dist is missing and npm is not installed: run `npm ci && npm run build` in frontend/")
    import fcntl

    with open(FRONTEND / ".build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (DIST / "index.html").exists():
            return  # another worker built it while we waited
        if not (FRONTEND / "node_modules").exists():
            subprocess.run([npm, "ci"], cwd=FRONTEND, check=True)
        subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 120,
                 need_worker: bool = False) -> None:
    """Wait until /api/health has the database up (and, with ``need_worker``, the training worker)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2) as res:
                body = json.loads(res.read() or b"{}")
        except urllib.error.HTTPError as err:  # 503: a component is down; fine if it is not one we need
            body = json.loads(err.read() or b"{}")
        except OSError:
            body = {}
        components = body.get("components", {})
        needed = ("database", "worker") if need_worker else ("database",)
        if all(components.get(name, {}).get("status") == "ok" for name in needed):
            return
        time.sleep(0.25)
    raise RuntimeError(f"the server did not become healthy in {timeout}s:\n{log.read_text()[-4000:]}")


def server_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``layerloom`` command on this data directory (local mode unless ``extra`` says)."""
    return {**os.environ, "LAYERLOOM_DATA_DIR": str(data_dir), "LAYERLOOM_DATABASE_URL": "",
            "LAYERLOOM_BROKER_URL": "", "LAYERLOOM_AUTH_MODE": "local", "LAYERLOOM_FRONTEND_DIST": str(DIST),
            "PYTHONUNBUFFERED": "1", **extra}


def start_server(data_dir: Path, log: Path, with_worker: bool = False,
                 env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """``layerloom serve`` (it migrates, then serves the API and frontend/dist at ``/``) on a free port
    with its own data directory and SQLite database; with its training worker only when asked (the
    editor does not train). ``env`` defaults to ``server_env(data_dir)``."""
    env = env or server_env(data_dir)
    port = free_port()
    cmd = [sys.executable, "-m", "layerloom.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--data-dir", str(data_dir), *([] if with_worker else ["--no-worker"])]
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log, need_worker=with_worker)
    except Exception:
        proc.kill()
        raise
    return proc, url


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()  # SIGTERM: uvicorn shuts down, then serve stops its worker (up to ~10 s)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def open_editor(browser: Any, url: str, timeout_ms: int = 15_000) -> Iterator[Any]:
    """A fresh page (its own storage: an empty draft) on the editor at ``url``, catalog loaded; fails
    the test on any uncaught error in the page."""
    from playwright.sync_api import expect

    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    context.set_default_timeout(timeout_ms)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(url + "/")
    expect(page.get_by_test_id("palette-Dense")).to_be_visible()
    yield page
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"
