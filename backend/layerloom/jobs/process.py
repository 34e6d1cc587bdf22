"""Run and supervise one runner subprocess: its own process group, output as JSON lines.

The runner writes one JSON event per line on stdout; anything else it prints (warnings, a
traceback) goes to a per-job log file. Cancel is SIGTERM to the whole group, then SIGKILL after a
grace period; a process that is already gone counts as stopped, so cancel is idempotent.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class RunnerProcess:
    def __init__(self, argv: list[str], log_path: Path, env: dict[str, str] | None = None) -> None:
        self.argv = argv
        self.log_path = log_path
        self.env = env
        self.proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = open(self.log_path, "ab")
        try:
            self.proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log,
                start_new_session=True,  # its own process group: cancel reaches its children too
                preexec_fn=die_with_parent,
                text=True, bufsize=1, env=self.env, shell=False,
            )
        finally:
            log.close()  # the child holds its own descriptor

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
