"""Run and supervise one runner subprocess: its own process group, output as JSON lines.

The runner writes one JSON event per line on stdout; anything else it prints (warnings, a
traceback) goes to a per-job log file. Cancel is SIGTERM to the whole group, then SIGKILL after a
grace period; a process that is already gone counts as stopped, so cancel is idempotent.

A ``WarmRunner`` is a runner started before its job (its imports done: most of a job's start-up),
in the same way: its own session and process group, the parent-death signal, stdout a pipe. A
``RunnerProcess`` given one hands it the job on stdin instead of starting a process, and from then
on supervises it exactly as a cold one; if none is ready, or it died, it starts a cold one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class RunnerProcess:
    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None,
                 warm: WarmRunner | None = None) -> None:
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.warm = warm
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.warm is not None and self._hand_over(self.warm):
            return
        self.proc = _start_runner(self.argv, self.log_path, self.env, stdin=subprocess.DEVNULL)

    def _hand_over(self, warm: WarmRunner) -> bool:
        """Give the job to the warm runner, if it is ready and runs the same program."""
        prefix = warm.program
        if self.argv[:len(prefix)] != prefix or (proc := warm.take()) is None:
            return False
        message = {"args": self.argv[len(prefix):], "title": " ".join(self.argv), "stderr": str(self.log_path)}
        try:
            assert proc.stdin is not None
            proc.stdin.write(json.dumps(message) + "\n")
            proc.stdin.close()
        except OSError:  # it died after take() looked: end what is left of it, start a cold one
            _end_group(proc)
            return False
        self.proc = proc
        return True

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def events(self) -> Iterator[dict[str, Any]]:
        """Each JSON object the runner prints, until its stdout closes."""
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                self._log(f"[runner stdout] {line}")
                continue
            if isinstance(event, dict):
                yield event

    def wait(self, timeout: float | None = None) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def poll(self) -> int | None:
        return self.proc.poll() if self.proc else None

    def signal_group(self, sig: int) -> bool:
        """Send ``sig`` to the runner's process group; False when it is already gone."""
        if self.proc is None:
            return False
        try:
            os.killpg(self.proc.pid, sig)
            return True
        except ProcessLookupError:
            return False

    def stop(self, grace_seconds: float = 5.0) -> int | None:
        """SIGTERM the group, then SIGKILL whatever is left after the grace period."""
        if self.proc is None:
            return None
        if self.signal_group(signal.SIGTERM):
            deadline = time.monotonic() + grace_seconds
            while self.proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            self.signal_group(signal.SIGKILL)
        try:
            return self.proc.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            return None

    def _log(self, text: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(text + "\n")


class WarmRunner:
    """At most one runner of ``module`` started ahead of its job, for the next job:
    ``python -m MODULE --warm FOLDER``, FOLDER being where its jobs live (so that ``ps`` shows whose
    it is); what it prints before it has a job goes to FOLDER/warm-runner.log.

    PR_SET_PDEATHSIG fires when the *thread* that started a child ends, so runners are only
    started from the main thread (the Celery worker runs its tasks there); elsewhere ``refill``
    does nothing and jobs start cold."""

    def __init__(self, module: str, folder: Path, env: dict[str, str] | None = None) -> None:
        self.program = python_module_argv(module)
        self.folder = folder
        self.env = env
        self.proc: subprocess.Popen[str] | None = None

    def refill(self) -> None:
        """Start a runner to wait for the next job, unless one is waiting already."""
        if self.proc is not None and self.proc.poll() is None:
            return
        if threading.current_thread() is not threading.main_thread():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self.proc = _start_runner([*self.program, "--warm", str(self.folder)], self.folder / "warm-runner.log",
                                  self.env, stdin=subprocess.PIPE)

    def take(self) -> subprocess.Popen[str] | None:
        """The waiting runner, now the caller's; None if there is none or it has died."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is not None:
            return None
        return proc

    def close(self) -> None:
        """End the waiting runner (closing its stdin tells it no job is coming)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            _end_group(proc)


def _start_runner(argv: list[str], log_path: Path, env: dict[str, str] | None, stdin: int) -> subprocess.Popen[str]:
    log = open(log_path, "ab")
    try:
        return subprocess.Popen(
            argv, stdin=stdin, stdout=subprocess.PIPE, stderr=log,
            start_new_session=True,  # its own process group: cancel reaches its children too
            preexec_fn=die_with_parent,
            text=True, bufsize=1, env=env, shell=False,
        )
    finally:
        log.close()  # the child holds its own descriptor


def _end_group(proc: subprocess.Popen[str], grace_seconds: float = 2.0) -> None:
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            try:
                stream.close()
            except OSError:
                pass
    try:
        proc.wait(grace_seconds)
        return
    except subprocess.TimeoutExpired:
        pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # not reaped yet: the group id is still its own
    except ProcessLookupError:
        pass
    proc.wait()


def die_with_parent() -> None:
    """In the child, before exec: ask Linux to SIGKILL it when its parent dies, so a runner never
    outlives a killed worker (and races the retry the reaper starts), nor a worker its `serve`."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def python_module_argv(module: str, *args: str) -> list[str]:
    """argv that runs ``python -m module args`` with this interpreter (the same virtualenv)."""
    return [sys.executable, "-m", module, *args]
