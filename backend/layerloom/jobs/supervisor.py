"""``run_job``: what a worker does with one delivery — claim, run the runner subprocess, keep the
lease alive, watch for cancel, relay events into the log, record artifacts and the final state.

Plain code (no Celery): ``layerloom.worker.tasks`` calls it, and tests call it directly.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ..runner_settings import DATA_MEMORY_BUDGET_ENV, DATA_ROOTS_ENV
from ..settings import Settings
from ..storage import Storage, StorageError, StorageNotFound, cache_from_settings, storage_from_settings
from ..train import artifacts as train_artifacts
from ..train.checkpoint import CHECKPOINT_FILE, CHECKPOINT_INFO_SUFFIX, checkpoint_epoch
from ..store.dataset_storage import local_dataset_file
from ..store.datasets import builtin_cache_dir
from ..store.imported_weights import weights_file as imported_weights_file
from ..train.results import RESULTS_FILE
from ..store import quotas
from ..store.models import Artifact, ArtifactKind, Dataset, Job, JobState, User
from . import lifecycle
from .devices import runner_env as device_env
from .queues import job_queue
from .process import RunnerProcess, WarmRunner, python_module_argv
from .runner import EXIT_CANCELLED, EXIT_SUCCEEDED, RUN_DIR, SPEC_FILE, checkpoint_copy_name

log = logging.getLogger(__name__)

CANCEL_POLL_SECONDS = 0.5
CANCEL_GRACE_SECONDS = 3.0
JOBS_DIR = "jobs"
RUNNER_MODULE = "layerloom.jobs.runner"
CHECKPOINT_NOTE = str(Path(CHECKPOINT_FILE).with_suffix(CHECKPOINT_INFO_SUFFIX))  # checkpoint.json: its epoch
_CHECKPOINT_COPY = re.compile(r"checkpoint-[0-9]{1,9}\.pt")
QUOTA_RECHECK_SECONDS = 2  # a job waiting for its owner's running-jobs quota is tried again after this

# Files the trainer writes into the run directory, by artifact kind (the graph is the job's snapshot).
ARTIFACT_FILES = {
    ArtifactKind.WEIGHTS_SAFETENSORS: train_artifacts.WEIGHTS_SAFETENSORS,
    ArtifactKind.WEIGHTS_PT: train_artifacts.WEIGHTS_PT,
    ArtifactKind.MANIFEST: train_artifacts.MANIFEST_FILE,
    ArtifactKind.HISTORY: train_artifacts.HISTORY_FILE,
    ArtifactKind.CHECKPOINT: CHECKPOINT_FILE,
}

Dispatch = Callable[[str, str, str], None]  # job id, dispatch token, queue
RunnerArgv = Callable[[Path], list[str]]


def runner_argv(directory: Path) -> list[str]:
    """The training process for a job directory: ``python -m layerloom.jobs.runner JOB_DIR``."""
    return python_module_argv(RUNNER_MODULE, str(directory))


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def job_dir(data_dir: Path, job_id: str) -> Path:
    """The job's working folder on the machine that runs it."""
    return data_dir / JOBS_DIR / job_id


def job_key(job_id: str, *names: str) -> str:
    """The storage key of a job's file (or, without names, of its folder): the same relative path as
    under data_dir, so the embedded LocalStorage(data_dir) finds the run's files where they are."""
    return "/".join((JOBS_DIR, job_id, *names))


def run_job(job_id: str, token: str, settings: Settings, sessions: sessionmaker[Session], dispatch: Dispatch,
            worker_id: str | None = None, devices: list[str] | None = None,
            runner: RunnerArgv | None = None, warm: WarmRunner | None = None) -> str | None:
    """Run one delivery of a job; returns the final state, or None when the delivery was stale.

    ``devices``: the worker's device slots for this runner (``["cuda:1"]``, one per rank): the runner
    sees only those, as ``cuda:0``... (``jobs/devices.py``); None leaves the runner's devices as the worker's.
    ``runner`` gives the training process's argv (tests pass a small stand-in that prints events).
    With ``warm``, the job goes to its waiting runner (when there is one), and a new one is started
    for the next job once this one is training (its first step or epoch event: earlier, it would
    compete with this job's start), or has ended. A warm runner serves only jobs without a device
    slot or a stand-in runner: it was started with the worker's environment."""
    worker_id = worker_id or default_worker_id()
    with sessions() as session:
        owner = session.scalar(select(User).join(Job, Job.owner_id == User.id).where(Job.id == job_id))
        limits = quotas.limits(settings, owner) if owner is not None else {}
        max_running = limits.get("max_running_jobs", 0)
        if not lifecycle.claim(session, job_id, token, worker_id, settings.lease_seconds, max_running):
            if max_running and lifecycle.wait_for_quota(session, job_id, token, quotas.running_wait_message(max_running),
                                                        QUOTA_RECHECK_SECONDS):
                return JobState.QUEUED.value  # the reaper dispatches it again; a running job's end may free a slot
            return None
        job = session.get(Job, job_id)
        assert job is not None
        lifecycle.append_event(session, job_id, "status", {
            "status": "running", "message": f"Started on {worker_id} (attempt {job.attempt} of {job.max_attempts})."})
        directory = job_dir(settings.data_dir, job_id)
        queue = job_queue(job.config)
        try:
            # Everything the runner reads comes from storage into this machine's folders: the
            # dataset, the initial weights, and the last checkpoint (of whichever machine ran it).
            write_spec(directory, job, settings, session, lifecycle.last_logged_epoch(session, job_id), devices)
            restore_checkpoint(settings, job_id, directory / RUN_DIR)
        except StorageError as exc:
            log.warning("job %s: %s", job_id, exc)
            new_token = lifecycle.requeue(session, job_id, token, f"Fetching the job's files from storage failed: {exc}.",
                                          settings.lease_seconds, retry_from(settings, job_id))
            if new_token:
                dispatch(job_id, new_token, queue)
            return JobState.QUEUED if new_token else None
        session.commit()
    if devices is not None or runner is not None:
        warm = None
    try:
        return _Supervision(job_id, token, settings, sessions, dispatch, directory, queue, device_env(devices),
                            runner or runner_argv, warm, limits.get("max_job_seconds", 0)).run()
    finally:
        if warm is not None:
            warm.refill()


def refuse(job_id: str, token: str, settings: Settings, sessions: sessionmaker[Session], worker_id: str,
           reason: str) -> str | None:
    """A delivery no waiting can make runnable here (it needs more devices than the worker has):
    the job fails, saying why and what to change. None when the delivery was stale."""
    with sessions() as session:
        if not lifecycle.claim(session, job_id, token, worker_id, settings.lease_seconds):
            return None
        if lifecycle.finish(session, job_id, token, JobState.FAILED, error=reason):
            lifecycle.append_event(session, job_id, "status", {"status": "failed", "message": reason})
            session.commit()
    return JobState.FAILED.value


def make_warm_runner(settings: Settings) -> WarmRunner:
    """The worker's warm runner, waiting for jobs under ``data_dir/jobs``."""
    return WarmRunner(RUNNER_MODULE, settings.data_dir / JOBS_DIR, env=runner_env(settings))


def stored_checkpoint(storage: Storage, job_id: str) -> tuple[int, str] | None:
    """The epoch and key of the job's stored checkpoint, from its note: the note is written after
    the checkpoint it names (under its own per-epoch key), so it is the one pointer that the retry
    message and the restore both read, and they can never disagree. None when there is none."""
    try:
        note = json.loads(storage.get(job_key(job_id, RUN_DIR, CHECKPOINT_NOTE)))
        epoch = int(note["epoch"])
    except StorageNotFound:
        return None
    except (ValueError, KeyError, TypeError):
        return None
    name = note.get("file", CHECKPOINT_FILE)  # notes written before per-epoch keys name no file
    if not isinstance(name, str) or not (name == CHECKPOINT_FILE or _CHECKPOINT_COPY.fullmatch(name)) or epoch < 1:
        return None
    return epoch, job_key(job_id, RUN_DIR, name)


def retry_from(settings: Settings, job_id: str) -> str:
    """Where a retry of the job starts, in words, from the note of its stored checkpoint (the one the
    next attempt, on any machine, resumes from)."""
    try:
        stored = stored_checkpoint(storage_from_settings(settings), job_id)
    except StorageError:
        return "from its last stored checkpoint, if storage has one (it could not be read just now)"
    return f"from the checkpoint of epoch {stored[0]}" if stored else "from the start: no checkpoint"


def restore_checkpoint(settings: Settings, job_id: str, run_dir: Path) -> None:
    """Make the run folder's checkpoint the stored one: downloaded when storage is elsewhere (a job
    resumed on another machine continues from it), and removed when storage has none (a local one
    that was never stored is not what the retry message promised). A no-op with local storage."""
    storage = storage_from_settings(settings)
    if storage.local_root() is not None:
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    stored = stored_checkpoint(storage, job_id)
    if stored is None:
        for name in (CHECKPOINT_FILE, CHECKPOINT_NOTE):
            (run_dir / name).unlink(missing_ok=True)
        return
    epoch, key = stored
    tmp = run_dir / f".{CHECKPOINT_FILE}.part"
    try:
        storage.download(key, tmp)
        os.replace(tmp, run_dir / CHECKPOINT_FILE)
    finally:
        tmp.unlink(missing_ok=True)
    (run_dir / CHECKPOINT_NOTE).write_text(json.dumps({"epoch": epoch}))


def write_spec(directory: Path, job: Job, settings: Settings, session: Session, last_epoch_logged: int,
               devices: list[str] | None = None) -> None:
    if job.builtin_dataset:
        dataset: dict[str, Any] = {"kind": "builtin", "name": job.builtin_dataset,
                                   "cache": str(builtin_cache_dir(settings.storage_cache_dir))}
    else:
        row = session.get(Dataset, job.dataset_id)
        if row is None:
            raise LookupError(f"job {job.id}: its dataset was deleted")
        path = local_dataset_file(cache_from_settings(settings), row.id, row.storage_path)
        dataset = {"kind": row.kind, "name": row.name, "path": str(path),
                   "options": row.options, "max_bytes": settings.max_upload_bytes}
    config = {**job.config, "mapping": job.mapping}
    if devices and str(config.get("device", "")).startswith("cuda"):
        config["device"] = "cuda:0"  # the first device the runner sees (rank r of a distributed job uses cuda:r)
    spec = {"graph": job.graph, "dataset": dataset, "config": config,
            "last_epoch_logged": last_epoch_logged}
    if job.config.get("init_weights"):
        weights = imported_weights_file(cache_from_settings(settings), job.owner_id, job.config["init_weights"])
        if weights is None:
            raise StorageNotFound(storage_from_settings(settings).name, f"imported_weights/{job.owner_id}/"
                                  f"{job.config['init_weights']}.safetensors", "fetch")
        spec["init_weights_path"] = str(weights)
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / (SPEC_FILE + ".tmp")
    tmp.write_text(json.dumps(spec), encoding="utf-8")
    os.replace(tmp, directory / SPEC_FILE)
    # The spec as the run saw it (a no-op with local storage, where this already is the stored file).
    storage_from_settings(settings).put(job_key(job.id, SPEC_FILE), directory / SPEC_FILE)


class _Supervision:
    def __init__(self, job_id: str, token: str, settings: Settings, sessions: sessionmaker[Session],
                 dispatch: Dispatch, directory: Path, queue: str, extra_env: dict[str, str],
                 runner: RunnerArgv, warm: WarmRunner | None = None, max_seconds: int = 0) -> None:
        self.job_id, self.token, self.settings = job_id, token, settings
        self.max_seconds = max_seconds  # the owner's max_job_seconds quota (0: none)
        self.timed_out = False
        self.sessions, self.dispatch, self.directory, self.queue = sessions, dispatch, directory, queue
        self.runner = RunnerProcess(runner(directory), directory / "runner.log",
                                    env={**runner_env(settings), **extra_env}, warm=warm)
        self.warm = warm
        self.done = threading.Event()
        self.cancelled = False
        self.lease_lost = False
        self.final_event: dict[str, Any] | None = None
        self.storage = storage_from_settings(settings)
        self.storage_failure: str | None = None  # why storing a checkpoint failed: the attempt is retried

    def run(self) -> str | None:
        self.runner.start()
        watcher = threading.Thread(target=self._watch, name=f"lease-{self.job_id}", daemon=True)
        watcher.start()
        try:
            try:
                self._relay_events()
            except BaseException:
                # Events that cannot be logged must not be produced: a runner nobody relays would
                # train on unobserved (its job is re-queued by the reaper once the lease expires).
                log.exception("job %s: cannot relay events; stopping its runner", self.job_id)
                self.runner.stop(CANCEL_GRACE_SECONDS)
                raise
            code = self.runner.wait()
        finally:
            self.done.set()
            watcher.join()
        return self._conclude(code)

    def _relay_events(self) -> None:
        """Log the runner's events. With storage elsewhere, an epoch's event (and what follows it) is
        held until that epoch's checkpoint is stored, so whoever sees the epoch can resume from it."""
        remote = self.storage.local_root() is None
        held: list[dict[str, Any]] = []
        with self.sessions() as session:
            logged_epoch = lifecycle.last_logged_epoch(session, self.job_id)
            for event in self.runner.events():
                if self.warm is not None and event.get("type") in ("step", "epoch"):
                    self.warm.refill()  # a no-op once the next job's runner is waiting
                if event.get("type") == "checkpoint":
                    if not self._store_checkpoint(event):
                        return  # the runner is stopped; the held epoch is not published
                    self._log_events(session, held)
                    held = []
                    continue
                if event.get("type") == "epoch":
                    if int(event.get("epoch", 0)) <= logged_epoch:
                        continue  # an epoch a previous attempt already logged
                    logged_epoch = int(event["epoch"])
                if event.get("type") == "status" and event.get("status") in ("succeeded", "failed", "cancelled"):
                    self.final_event = event  # recorded with the final state, in _conclude
                    continue
                if remote and (held or event.get("type") == "epoch"):
                    held.append(event)
                else:
                    self._log_events(session, [event])
            if held and self.runner.wait() == EXIT_SUCCEEDED:
                self._log_events(session, held)  # a finished run stores every checkpoint; keep what it said
            elif held:  # a runner lost before its checkpoint was stored: the retry trains that epoch again
                log.warning("job %s: dropping %d event(s) of an epoch whose checkpoint was not stored",
                            self.job_id, len(held))

    def _log_events(self, session: Session, events: list[dict[str, Any]]) -> None:
        if events:
            lifecycle.append_events_retrying(session, self.job_id, [
                (event.get("type", "log"), {k: v for k, v in event.items() if k not in ("seq", "type", "replayed")})
                for event in events])

    def _store_checkpoint(self, event: dict[str, Any]) -> bool:
        """Store the checkpoint the runner just saved (its hard link ``checkpoint-<epoch>.pt``, which
        the next epoch's save does not touch), then its note. False when storage failed: the
        runner is stopped and the attempt will be retried from the last stored checkpoint."""
        name, epoch = str(event.get("file", "")), int(event.get("epoch", 0))
        if not _CHECKPOINT_COPY.fullmatch(name) or name != checkpoint_copy_name(epoch):
            log.warning("job %s: ignoring a malformed checkpoint event %r", self.job_id, event)
            return True
        copy = self.directory / RUN_DIR / name
        try:
            if self.storage.local_root() is None:
                # The checkpoint under its own key, then the note naming it: a worker lost between
                # the two leaves the previous note, which still names a whole checkpoint.
                self.storage.put(job_key(self.job_id, RUN_DIR, name), copy)
                self.storage.put(job_key(self.job_id, RUN_DIR, CHECKPOINT_NOTE),
                                 json.dumps({"epoch": epoch, "file": name}).encode())
                self._forget_checkpoint(epoch - 1)  # every epoch is checkpointed: this was the last one
            return True
        except StorageError as exc:
            log.warning("job %s: %s", self.job_id, exc)
            self.storage_failure = f"Storing the checkpoint of epoch {epoch} failed: {exc}."
            self.runner.stop(CANCEL_GRACE_SECONDS)
            return False
        finally:
            copy.unlink(missing_ok=True)

    def _watch(self) -> None:
        """Renew the lease every heartbeat; poll for cancel often, so it takes effect within a second."""
        next_heartbeat = 0.0
        deadline = time.monotonic() + self.max_seconds if self.max_seconds else None
        while not self.done.wait(CANCEL_POLL_SECONDS):
            if deadline is not None and time.monotonic() >= deadline and not self.timed_out:
                self.timed_out = True
                self.runner.stop(CANCEL_GRACE_SECONDS)
            try:
                with self.sessions() as session:
                    if time.monotonic() >= next_heartbeat:
                        status = lifecycle.renew_lease(session, self.job_id, self.token, self.settings.lease_seconds)
                        next_heartbeat = time.monotonic() + self.settings.heartbeat_seconds
                        if not status.held:
                            self.lease_lost = True
                            self.runner.stop(CANCEL_GRACE_SECONDS)
                            return
                        wants_cancel = status.cancel_requested
                    else:
                        wants_cancel = lifecycle.cancel_requested(session, self.job_id)
            except Exception:  # a busy or restarting database: try again next tick
                log.exception("job %s: lease/cancel check failed", self.job_id)
                continue
            if wants_cancel and not self.cancelled:
                self.cancelled = True
                self.runner.stop(CANCEL_GRACE_SECONDS)

    def _conclude(self, code: int) -> str | None:
        if self.lease_lost:
            return None  # someone else owns the job now
        final = self.final_event or {}
        with self.sessions() as session:
            if self.storage_failure and not self.cancelled:
                new_token = lifecycle.requeue(session, self.job_id, self.token, self.storage_failure,
                                              self.settings.lease_seconds, retry_from(self.settings, self.job_id))
                if new_token:
                    self.dispatch(self.job_id, new_token, self.queue)
                return JobState.QUEUED if new_token else None
            if code == EXIT_SUCCEEDED:
                try:
                    self._store_outputs()
                except StorageError as exc:
                    # Never "succeeded" without its files: retry, as for a lost runner.
                    log.warning("job %s: %s", self.job_id, exc)
                    new_token = lifecycle.requeue(session, self.job_id, self.token,
                                                  f"Storing the trained model failed: {exc}.",
                                                  self.settings.lease_seconds, retry_from(self.settings, self.job_id))
                    if new_token:
                        self.dispatch(self.job_id, new_token, self.queue)
                    return JobState.QUEUED if new_token else None
                self._record_artifacts(session)
                state, error = JobState.SUCCEEDED, None
            elif self.timed_out and not self.cancelled:
                state = JobState.FAILED
                error = (f"Stopped after {self.max_seconds} s: {quotas.describe('max_job_seconds', self.max_seconds)}. "
                         "Train fewer epochs or ask an admin for more time.")
            elif self.cancelled or code == EXIT_CANCELLED:
                state, error = JobState.CANCELLED, None
            elif code < 0:
                # Killed from outside (OOM killer, kill -9): retry from the last checkpoint.
                new_token = lifecycle.requeue(session, self.job_id, self.token,
                                              f"The training process was killed (signal {-code}).",
                                              self.settings.lease_seconds, retry_from(self.settings, self.job_id))
                if new_token:
                    self.dispatch(self.job_id, new_token, self.queue)
                return JobState.QUEUED if new_token else None
            else:
                state = JobState.FAILED
                reported = final.get("message") if final.get("status") == "failed" else None
                error = reported or f"The training process exited with code {code}; see runner.log."
            metrics = final.get("metrics") if state == JobState.SUCCEEDED else None
            if lifecycle.finish(session, self.job_id, self.token, state, error=error, final_metrics=metrics):
                lifecycle.append_event(session, self.job_id, "status", final_status_payload(final, state, error))
                session.commit()
        return state.value

    def _store_outputs(self) -> None:
        """Upload the run's artifacts and results to storage (a no-op for the embedded
        LocalStorage(data_dir), where they already are), before the job may say it succeeded."""
        run_dir = self.directory / RUN_DIR
        for name in (*ARTIFACT_FILES.values(), CHECKPOINT_NOTE, RESULTS_FILE):
            if (run_dir / name).is_file():
                self.storage.put(job_key(self.job_id, RUN_DIR, name), run_dir / name)
        # The final checkpoint and its note (which names no per-epoch file) replace the last one.
        final_epoch = checkpoint_epoch(run_dir / CHECKPOINT_FILE)
        if final_epoch is not None and self.storage.local_root() is None:
            self._forget_checkpoint(final_epoch)

    def _forget_checkpoint(self, epoch: int) -> None:
        """Delete a per-epoch checkpoint no note names any more; best effort, since a leftover only
        costs space until the job is deleted."""
        if epoch < 1:
            return
        try:
            self.storage.delete(job_key(self.job_id, RUN_DIR, checkpoint_copy_name(epoch)))
        except StorageError as exc:
            log.warning("job %s: %s", self.job_id, exc)

    def _record_artifacts(self, session: Session) -> None:
        run_dir = self.directory / RUN_DIR
        for kind, name in ARTIFACT_FILES.items():
            path = run_dir / name
            if path.is_file():
                session.add(Artifact(job_id=self.job_id, kind=kind, path=job_key(self.job_id, RUN_DIR, name),
                                     size_bytes=path.stat().st_size, sha256=_sha256(path)))
        session.flush()


def final_status_payload(final: dict[str, Any], state: JobState, error: str | None) -> dict[str, Any]:
    """The job's last status event: the runner's final event, but always saying the state the job
    ended in. The runner's message is kept only when it reported that same state, so a cancelled
    run never ends with a message about failing (or the reverse)."""
    payload = {k: v for k, v in final.items() if k not in ("seq", "type")}
    agrees = final.get("status") == state.value
    message = (payload.get("message") if agrees else None) or error or state.value.capitalize() + "."
    payload.update(status=state.value, message=message)
    return payload


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# What the training process may see of the worker's environment: how to find Python, libraries,
# a temporary directory, the GPU and thread settings. Nothing else — in particular no database or
# broker URL and no other secret: the runner reads everything it needs from spec.json.
RUNNER_ENV_NAMES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TEMP", "TMP",
    "PYTHONPATH", "PYTHONHASHSEED", "PYTHONUNBUFFERED", "VIRTUAL_ENV", "LD_LIBRARY_PATH",
    "OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
    "CUDA_VISIBLE_DEVICES", "CUDA_HOME", "CUDA_DEVICE_ORDER", "PYTORCH_CUDA_ALLOC_CONF", "NVIDIA_VISIBLE_DEVICES",
    "TORCH_HOME", "XDG_CACHE_HOME",
})
RUNNER_ENV_PREFIXES = ("LC_",)


def runner_env(settings: Settings, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The runner's environment: the allow-listed variables, plus the graph limits of these settings
    (the runner re-checks the graph with the same limits the API did) and the data settings the
    runner reads (the roots registered folders are read under, the memory budget for data_loading auto)."""
    environ = os.environ if environ is None else environ
    env = {k: v for k, v in environ.items() if k in RUNNER_ENV_NAMES or k.startswith(RUNNER_ENV_PREFIXES)}
    env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 2))))
    env.update({
        "LAYERLOOM_MAX_PARAMS": str(settings.max_params),
        "LAYERLOOM_MAX_GRAPH_NODES": str(settings.max_graph_nodes),
        "LAYERLOOM_MAX_GRAPH_EDGES": str(settings.max_graph_edges),
        "LAYERLOOM_MAX_TENSOR_ELEMENTS": str(settings.max_tensor_elements),
        DATA_ROOTS_ENV: settings.data_roots,
        DATA_MEMORY_BUDGET_ENV: str(settings.data_memory_budget_mb),
    })
    return env
