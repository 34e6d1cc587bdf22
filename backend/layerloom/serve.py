"""``layerloom serve``: the whole embedded service in one command — migrate the database, start one
Celery worker as a supervised child process, serve the API and the editor with uvicorn.

Ctrl-C (or SIGTERM) stops uvicorn, then the worker: SIGTERM, and SIGKILL after a few seconds (a
training runner dies with its worker; its job resumes from the last checkpoint on the next start,
once the reaper sees the lease expire).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from .jobs.process import die_with_parent
from .jobs.queues import celery_queue
from .settings import Settings
from .worker.options import WorkerOptions

log = logging.getLogger("layerloom.serve")

WORKER_STOP_GRACE_SECONDS = 5.0
WORKER_RESTART_DELAY_SECONDS = 2.0
# A closed websocket ends its stream at once (the hub's receive task). One whose peer vanished without
# closing is found by pings: every second, dropped when a pong is 5 s late (~6 s), which a busy client
# or a slow link survives (a 1 s pong deadline dropped 88 of 100 watchers on a loaded 2-core test host).
WS_PING_SECONDS = 1.0
WS_PONG_TIMEOUT_SECONDS = 5.0
GRACEFUL_SHUTDOWN_SECONDS = 2.0  # requests still running after this are cancelled


def worker_argv(name: str, options: WorkerOptions) -> list[str]:
    """A Celery worker with its options spelled out: ``concurrency`` jobs at a time (the solo pool for
    one, threads for more: ``worker/options.py``), no prefetch beyond them, its queues, and no
    gossip/mingle/heartbeat chatter (liveness is the worker registry and the lease, not Celery's)."""
    pool = "solo" if options.concurrency == 1 else "threads"
    return [sys.executable, "-m", "celery", "-A", "layerloom.worker.tasks", "--quiet", "worker",
            "--pool", pool, "--concurrency", str(options.concurrency), "--prefetch-multiplier", "1",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
            "-Q", ",".join(celery_queue(q) for q in options.queues), "-n", name, "--loglevel", "WARNING"]


class WorkerSupervisor:
    """Keeps one worker child running (restarting it if it dies) until ``stop``."""

    def __init__(self, name: str, options: WorkerOptions, env: dict[str, str]) -> None:
        self.name, self.options, self.env = name, options, {**env, **options.env()}
        self.proc: subprocess.Popen[bytes] | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._keep_running, name="worker-supervisor", daemon=True)

    def start(self) -> None:
        self._spawn()
        self.thread.start()

    def _spawn(self) -> None:
        # Its own session: the terminal's Ctrl-C reaches serve only, which then stops the worker in order;
        # and it dies with serve even when serve itself is killed.
        self.proc = subprocess.Popen(worker_argv(self.name, self.options), env=self.env, stdin=subprocess.DEVNULL,
                                     start_new_session=True, preexec_fn=die_with_parent)

    def _keep_running(self) -> None:
        while not self.stopping.is_set():
            if self.proc is not None and self.proc.poll() is not None and not self.stopping.is_set():
                log.warning("the worker exited with code %s; restarting it", self.proc.returncode)
                time.sleep(WORKER_RESTART_DELAY_SECONDS)
                if not self.stopping.is_set():
                    self._spawn()
            self.stopping.wait(0.5)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> None:
        self.stopping.set()
        if self.proc is None or self.proc.poll() is not None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(WORKER_STOP_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        except ProcessLookupError:
            pass


def server_class(app: Any) -> type:
    """uvicorn's server, closing the live event streams first (1001, going away) when it stops:
    uvicorn would otherwise wait for them, then end them with 1012."""
    import uvicorn

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: Any = None) -> None:
            started = time.monotonic()
            await app.state.event_hub.close(grace_seconds=2.0)
            log.info("closed the live event streams in %.2f s", time.monotonic() - started)
            await super().shutdown(sockets)
            log.info("stopped serving after %.2f s", time.monotonic() - started)

    return Server


MIGRATED_MESSAGE = "layerloom: migrated the database schema"  # said by the one process that did


def serve(settings: Settings, host: str, port: int, with_worker: bool = True) -> int:
    import uvicorn

    from .api.app import create_app
    from .store.db import migrate

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if migrate(settings.database_url):  # once, before any other process touches the database
        print(MIGRATED_MESSAGE, file=sys.stderr, flush=True)
    worker = None
    if with_worker:
        name = f"layerloom@{host}-{port}"
        worker = WorkerSupervisor(name, WorkerOptions.from_settings(settings, embedded=True), dict(os.environ))
    if worker:
        worker.start()
    if not is_loopback(host):
        if host not in ("0.0.0.0", "::"):
            settings = settings.model_copy(update={"allowed_hosts": [*settings.allowed_hosts, host]})
        if settings.auth_mode == "local":
            print(public_without_auth_warning(host), file=sys.stderr, flush=True)
    app = create_app(settings)
    shown = "localhost" if host in ("127.0.0.1", "0.0.0.0") else host
    print(f"Layerloom is running at http://{shown}:{port}/  (API docs: /docs; data in {settings.data_dir}; "
          "Ctrl-C stops it)", flush=True)
    try:
        server_class(app)(uvicorn.Config(app, host=host, port=port, log_level="warning", ws="websockets",
                                         ws_ping_interval=WS_PING_SECONDS, ws_ping_timeout=WS_PONG_TIMEOUT_SECONDS,
                                         timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS)).run()
    except KeyboardInterrupt:  # uvicorn re-raises the Ctrl-C it handled; stopping is what was asked
        pass
    finally:
        if worker:
            worker.stop()
    return 0


def is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def public_without_auth_warning(host: str) -> str:
    return (f"WARNING: serving on {host}, which other machines can reach, WITHOUT authentication "
            "(LAYERLOOM_AUTH_MODE=local): anyone who can reach this port can use your data, run jobs and "
            "download models. Set LAYERLOOM_AUTH_MODE=token (and create tokens with `layerloom token create NAME`), "
            "or serve on 127.0.0.1 (the default).")


def run_worker(settings: Settings, options: WorkerOptions) -> int:
    """``layerloom worker``: one worker in this process, for machines that only train."""
    from .store.db import migrate

    name = f"layerloom@{os.uname().nodename}-{os.getpid()}"
    if migrate(settings.database_url):
        print(MIGRATED_MESSAGE, file=sys.stderr, flush=True)
    os.environ.update(options.env())
    os.execv(sys.executable, worker_argv(name, options))
