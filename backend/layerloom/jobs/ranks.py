"""The runner of a distributed job on one node: it starts one runner per rank and waits for them.

``config.distributed = {"nproc_per_node": N, "nnodes": 1}``: the runner the supervisor started
becomes this launcher. It starts N copies of itself with torch.distributed's environment (RANK,
WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT on a free local port), in its own process group
and with the parent-death signal, so the supervisor's semantics hold unchanged: SIGTERM to the
group reaches every rank (cooperative cancel), killing the group kills them all, and a dead
launcher takes its ranks with it. Rank 0 inherits the launcher's stdout: its events are the job's.

The outcome is the first rank's that ends badly: a rank killed by a signal (kill -9, the OOM
killer) kills the others and then the launcher itself with that signal, which the supervisor
treats as a lost runner and retries from the last checkpoint; a rank that fails or is cancelled
ends the others and the launcher exits with its code. Several nodes go through torchrun
(``train/distributed.py``'s ``launch_command``), with the operator's rendezvous address.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from .process import die_with_parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(job_dir: Path, nproc: int, exit_cancelled: int) -> int:
    """Run ``nproc`` ranks of this job; returns the exit code (or kills itself with a rank's signal)."""
    port = free_port()
    ranks = []
    for rank in range(nproc):
        env = {**os.environ, "RANK": str(rank), "LOCAL_RANK": str(rank), "WORLD_SIZE": str(nproc),
               "LOCAL_WORLD_SIZE": str(nproc), "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port)}
        if "CUDA_VISIBLE_DEVICES" in os.environ:  # the worker's --devices: rank r uses the r-th of them
            env["CUDA_VISIBLE_DEVICES"] = os.environ["CUDA_VISIBLE_DEVICES"]
        stdout = None if rank == 0 else subprocess.DEVNULL  # only rank 0 reports
        ranks.append(subprocess.Popen([sys.executable, "-m", "layerloom.jobs.runner", str(job_dir)], env=env,
                                      stdout=stdout, stdin=subprocess.DEVNULL, preexec_fn=die_with_parent))
    cancelling = False

    def on_term(*_):  # the group's SIGTERM reached the ranks too; wait for them
        nonlocal cancelling
        cancelling = True

    signal.signal(signal.SIGTERM, on_term)
    while True:
        codes = [p.poll() for p in ranks]
        ended = [c for c in codes if c is not None]
        bad = next((c for c in ended if c != 0), None)
        if bad is not None or len(ended) == len(ranks):
            break
        time.sleep(0.05)
    if bad is None:
        return 0
    time.sleep(0.5)  # a peer's failure makes the others fail too: let the first causes be seen
    ended_alone = {p.pid for p in ranks if p.poll() is not None}
    for p in ranks:  # the others may wait forever in a collective for the rank that ended
        if p.poll() is None:
            p.kill()
    codes = [(p.wait(), p.pid in ended_alone) for p in ranks]
    if cancelling or any(c == exit_cancelled for c, alone in codes if alone):
        return exit_cancelled  # a peer of a cancelled rank may abort (gloo's lost connection): still a cancel
    killed = next((-c for c, alone in codes if alone and c < 0), None)
    if killed is not None:
        sys.stdout.flush()
        if killed not in (signal.SIGKILL, signal.SIGSTOP):
            signal.signal(killed, signal.SIG_DFL)  # e.g. SIGTERM, which this process catches
        os.kill(os.getpid(), killed)  # the supervisor sees the launcher killed: it retries
        time.sleep(5)
    return next(c for c, alone in codes if alone and c != 0)
