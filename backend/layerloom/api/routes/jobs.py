"""Jobs: submit a training run (checked completely before it is queued), list, get, cancel, delete,
its metric history and event log, the live event stream (websocket) and the trained artifacts.

A submission is refused with every problem at once — graph errors by node and field, config
errors by field, dataset mismatches by node — and nothing is stored. An accepted job is committed,
then dispatched (never dispatched before the row exists).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import shutil
import threading
import time
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import Query, Request, Response, WebSocket, WebSocketDisconnect
from fastapi.responses import FileResponse, JSONResponse
from pydantic import BaseModel, Field, ValidationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from ...data import BUILTIN_DATASETS, DatasetError
from ...data.folders import data_roots
from ...graph import Limits, analyze
from ...jobs import lifecycle
from ...jobs.queues import GPU_QUEUE, job_queue
from ...jobs.workers import worker_registry
from ...jobs.runner import RUN_DIR
from ...jobs.supervisor import job_dir, job_key
from ...storage import Storage, StorageError, StorageNotFound, cache_from_settings
from ...train.results import RESULTS_FILE
from ...settings import Settings
from ...store.canonical import NotStorable, canonical_json
from ...store.datasets import builtin_cache_dir, open_builtin, open_stored_dataset
from ...store.imported_weights import weights_file
from ...train.init_weights import file_shapes, weight_mismatches
from ...store.models import (
    ACTIVE_JOB_STATES, Artifact, ArtifactKind, Dataset, DatasetKind, Graph, GraphVersion, Job, JobEvent, JobState,
    User, utcnow,
)
from ...train import MappingError, TrainConfig, check_compatibility
from ..downloads import attachment_headers, stored_file_response
from ..deps import SESSION_COOKIE, CurrentUser, GraphLimits, OwnedJob, Paging, SessionDep, SettingsDep, StorageDep, load_owned, visible_datasets
from .. import auth, quota_checks
from ..errors import Conflict, NotFound, ServiceUnavailable, Unprocessable, problem, pydantic_problems
from ..routing import make_router
from ..schemas import MAX_INT, Page, WholeNumber
from ..event_hub import CLOSE, GONE, READ_BATCH, EventHub, event_item, read_log
from .datasets import stored_dataset_file
from .predict import evict_predictor

router = make_router("jobs", errors=(401, 404, 422, 429))
log = logging.getLogger(__name__)

FINAL_EVENT_WAIT = 1.0  # an ended job's final status event is committed just after its state
TERMINAL_STATES = ("succeeded", "failed", "cancelled")
TICKET_SECONDS = 60


class JobCreate(BaseModel):
    """What to train: a graph (inline, or a saved graph's version), a dataset, how to map it, how to train."""

    graph: dict[str, Any] | None = Field(None, description="A graph document; or give graph_id.")
    graph_id: str | None = Field(None, description="A saved graph; its latest version unless graph_version is given.")
    graph_version: int | None = Field(None, ge=1, le=MAX_INT, strict=True)
    dataset: str = Field(..., min_length=1, max_length=200, description="A built-in name (e.g. digits) or an upload's id.")
    mapping: dict[str, str] = Field(default_factory=dict, description="Input or head id -> array name, where they differ.")
    config: dict[str, Any] = Field(default_factory=dict, description="Training options (epochs, batch_size, optimizer, ...).")
    init_weights: str | None = Field(None, description="Start from imported weights: the weights_id that "
                                                       "POST /api/graphs/import returned (the same as config.init_weights).")


class JobPublic(BaseModel):
    id: str
    state: str
    graph_name: str
    graph_id: str | None
    graph_version: int | None
    dataset: str = Field(..., description="The built-in's name or the upload's id (what the dataset filter takes).")
    dataset_name: str = Field(..., description=(
        "What to show for the dataset: the built-in's name, the upload's current name, or \"(deleted dataset)\"."))
    attempt: int
    max_attempts: int
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    error: str | None
    final_metrics: dict[str, Any] | None
    best: dict[str, Any] | None = Field(None, description=(
        "The best epoch by the monitored metric (early_stopping.monitor, else val_loss, else loss), set when the "
        "job ends: {epoch, monitor, mode, value, metrics}."))
    config: dict[str, Any] = Field(..., description="The training options as given (defaults left out).")
    effective_config: dict[str, Any] = Field(..., description=(
        "Every training option with the value the run used, defaults included (for comparing runs)."))
    mapping: dict[str, str]
    worker_id: str | None = Field(None, description="The worker (host:pid) running the job, or that ran it last.")


class JobEventPublic(BaseModel):
    seq: int
    type: str
    payload: dict[str, Any]


class JobMetrics(BaseModel):
    """The per-epoch history (one row per epoch, in order) and the final metrics once finished."""

    epochs: list[dict[str, Any]]
    final: dict[str, Any] | None


# ---- submit -------------------------------------------------------------------------------


@router.post("/jobs", status_code=201, response_model=JobPublic)
def submit_job(body: JobCreate, request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep,
               limits: GraphLimits) -> JobPublic:
    """Check the graph, config and dataset together, then queue the job. 422 lists every problem;
    429 names the quota (queued or running jobs) a new job would pass."""
    document, version, config, dataset_row = _checked_submission(body, user, session, settings, limits)
    quota_checks.check_job_submission(session, settings, user)
    job = Job(owner_id=user.id, graph_version_id=version.id if version else None, graph=document,
              dataset_id=dataset_row.id if dataset_row else None,
              builtin_dataset=None if dataset_row else body.dataset, mapping=body.mapping,
              config=config.model_dump(mode="json", exclude={"mapping"}, exclude_defaults=True),
              state=JobState.QUEUED, attempt=0, max_attempts=settings.max_attempts)
    session.add(job)
    session.flush()
    queue = job_queue(job.config)
    lifecycle.append_event(session, job.id, "status", {"status": "queued", "message": _queued_message(settings, queue)})
    token = lifecycle.new_dispatch(session, job.id, settings.lease_seconds)
    session.commit()
    request.app.state.dispatch(job.id, token, queue)  # after the commit: a worker must find the row
    session.refresh(job)
    return _public(session, job)


def _queued_message(settings: SettingsDep, queue: str) -> str:
    """"Queued.", or why the job will wait: no worker that answers takes jobs from its queue. The job
    stays queued (a worker may start later) rather than being refused."""
    try:
        listening = any(queue in w.queues for w in worker_registry(settings).all() if w.alive())
    except Exception:  # the registry (Redis) is down: say nothing rather than fail the submission
        log.warning("could not read the worker registry", exc_info=True)
        return "Queued."
    if listening:
        return "Queued."
    hint = " or --devices cuda:0" if queue == GPU_QUEUE else ""
    return (f"Queued on '{queue}', but no worker takes jobs from that queue now; it waits until one does "
            f"(start one with `layerloom worker --queues {queue}`{hint}).")


@router.post("/jobs/check", status_code=204)
def check_job(body: JobCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep,
              limits: GraphLimits) -> None:
    """The same checks as submitting, storing nothing: 204 if the job would be accepted, else the
    422 (or quota 429) that submitting would give. The editor calls it before it saves a new graph version."""
    _checked_submission(body, user, session, settings, limits)
    quota_checks.check_job_submission(session, settings, user)


def _checked_submission(body: JobCreate, user: User, session: Session, settings: Settings, limits: Limits):
    """Every check of a submission, in order; raises the 4xx that lists the problems."""
    document, version = _graph_to_train(session, user, body)
    for field, value in (("graph", document), ("mapping", body.mapping), ("config", body.config)):
        try:
            canonical_json(value, field=field)  # before the work below: a job whose graph cannot be stored
        except NotStorable as err:
            raise Unprocessable(str(err), [problem("not_storable", str(err), field=err.field)]) from None
    analysis = analyze(document, limits)
    if not analysis.ok:
        raise Unprocessable("The graph has errors; fix them before training.",
                            [{**i.to_json(), "field": f"graph.{i.field}" if i.field else "graph"} for i in analysis.errors])
    try:
        config = TrainConfig.model_validate({**body.config, "mapping": body.mapping,
                                             **({"init_weights": body.init_weights} if body.init_weights else {})})
    except ValidationError as err:
        raise Unprocessable("The training config is not valid.", pydantic_problems(err.errors(), prefix="config")) from None
    if config.init_weights:
        _check_init_weights(settings, user, config.init_weights, analysis)
    dataset_row, dataset = _dataset_to_train(session, settings, user, body.dataset)
    try:
        check_compatibility(analysis, dataset, config)
    except MappingError as err:
        raise Unprocessable(f"The graph and the dataset {body.dataset!r} do not fit.",
                            [problem(p["code"], p["message"], node=p.get("node"), field=p.get("field")) for p in err.problems]) from None
    return document, version, config, dataset_row


def _check_init_weights(settings: Settings, user: User, weights_id: str, analysis) -> None:
    """The imported weights exist for this user and fit the graph key by key (read from the file's header)."""
    try:
        path = weights_file(cache_from_settings(settings), user.id, weights_id)
    except StorageError as exc:
        raise ServiceUnavailable(f"The imported weights could not be read; try again. {exc}") from exc
    if path is None:
        message = f"No imported weights {weights_id!r}; import a Keras model first (POST /api/graphs/import)."
        raise Unprocessable(message, [problem("not_found", message, field="init_weights")])
    mismatches = weight_mismatches(analysis, file_shapes(path))
    if mismatches:
        raise Unprocessable("The initial weights do not fit the graph.",
                            [problem("weights_mismatch", f"init_weights: {m}.", field="init_weights") for m in mismatches])


def _graph_to_train(session: Session, user: User, body: JobCreate) -> tuple[dict[str, Any], GraphVersion | None]:
    if (body.graph is None) == (body.graph_id is None):
        raise Unprocessable("Give either 'graph' (a document) or 'graph_id' (a saved graph).",
                            [problem("missing", "Give exactly one of graph and graph_id.", field="graph")])
    if body.graph is not None:
        return body.graph, None
    graph = load_owned(session, Graph, body.graph_id, user)  # type: ignore[arg-type]
    number = body.graph_version or graph.latest_version
    version = session.scalar(select(GraphVersion).where(GraphVersion.graph_id == graph.id, GraphVersion.number == number))
    if version is None:
        raise NotFound(f"Graph {graph.name!r} has no version {number}.")
    return version.document, version


def _dataset_to_train(session: Session, settings: Settings, user: User, name_or_id: str):
    if name_or_id in BUILTIN_DATASETS:
        return None, open_builtin(name_or_id, builtin_cache_dir(settings.storage_cache_dir))
    row = session.scalar(visible_datasets(user).where(Dataset.id == name_or_id))
    if row is None:
        raise NotFound(f"There is no dataset {name_or_id!r}: use a built-in ({', '.join(BUILTIN_DATASETS)}) "
                       "or the id of one of your uploads.")
    try:
        dataset = open_stored_dataset(DatasetKind(row.kind), stored_dataset_file(settings, row), row.options,
                                      name=row.name, max_bytes=settings.max_upload_bytes,
                                      roots=data_roots(settings.data_roots))
    except DatasetError as err:
        raise Unprocessable(f"The dataset {row.name!r} can no longer be read.",
                            [problem(p["code"], p["message"], field=p.get("field")) for p in err.problems]) from None
    return row, dataset


# ---- read, cancel, delete -----------------------------------------------------------------


@router.get("/jobs", response_model=Page[JobPublic])
def list_jobs(user: CurrentUser, session: SessionDep, paging: Paging,
              state: Annotated[JobState | None, Query(description="Only jobs in this state.")] = None,
              dataset: Annotated[str | None, Query(description="Only jobs on this dataset (name or id).")] = None,
              graph_id: Annotated[str | None, Query(description="Only jobs of this saved graph.")] = None) -> Page[JobPublic]:
    """The user's jobs, newest first."""
    query = select(Job).where(Job.owner_id == user.id)
    if state:
        query = query.where(Job.state == state)
    if dataset:
        query = query.where((Job.builtin_dataset == dataset) | (Job.dataset_id == dataset))
    if graph_id:
        query = query.where(Job.graph_version_id.in_(select(GraphVersion.id).where(GraphVersion.graph_id == graph_id)))
    count = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Job.created_at.desc(), Job.id).offset(paging.offset).limit(paging.limit)).all()
    upload_ids = {job.dataset_id for job in rows if job.dataset_id}
    names = dict(session.execute(select(Dataset.id, Dataset.name).where(Dataset.id.in_(upload_ids))).all()) if upload_ids else {}
    return Page(data=[_public(session, job, names) for job in rows], count=count)


@router.get("/jobs/{job_id}", response_model=JobPublic)
def get_job(job: OwnedJob, session: SessionDep) -> JobPublic:
    return _public(session, job)


@router.post("/jobs/{job_id}/cancel", response_model=JobPublic)
def cancel_job(job: OwnedJob, session: SessionDep) -> JobPublic:
    """A queued job is cancelled at once; a running one stops at its next step (within seconds)."""
    if job.state in (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED):
        raise Conflict(f"The job has already {job.state}; there is nothing to cancel.")
    done = session.execute(update(Job).where(Job.id == job.id, Job.state == JobState.QUEUED).values(
        state=JobState.CANCELLED, cancel_requested=True, finished_at=utcnow(), lease_expires_at=None)).rowcount
    if done:
        lifecycle.append_event(session, job.id, "status", {"status": "cancelled", "message": "Cancelled before it started."})
    else:
        changed = session.execute(update(Job).where(Job.id == job.id, Job.state.in_(lifecycle.RUNNING_STATES)).values(
            state=JobState.CANCELLING, cancel_requested=True)).rowcount
        if changed:
            lifecycle.append_event(session, job.id, "status", {"status": "cancelling", "message": "Cancelling…"})
    session.commit()
    session.refresh(job)
    return _public(session, job)


@router.delete("/jobs/{job_id}", status_code=204)
def delete_job(job: OwnedJob, session: SessionDep, settings: SettingsDep, storage: StorageDep,
               request: Request) -> None:
    """Delete a finished job with its events and files. An active job must be cancelled first."""
    if job.state in ACTIVE_JOB_STATES:
        raise Conflict("The job is still active; cancel it first, then delete it.")
    try:  # the stored objects first: a storage outage keeps the job listed, so the delete can be retried
        storage.delete_prefix(job_key(job.id))
    except StorageError as exc:
        raise ServiceUnavailable(f"The job's files could not be deleted; try again. {exc}") from exc
    session.execute(delete(Job).where(Job.id == job.id))
    session.commit()
    evict_predictor(request.app, job.id)  # its loaded model, if predictions were made
    shutil.rmtree(job_dir(settings.data_dir, job.id), ignore_errors=True)  # this machine's working copy
    cache_from_settings(settings).forget(job_key(job.id))


@router.get("/jobs/{job_id}/metrics", response_model=JobMetrics)
def get_metrics(job: OwnedJob, session: SessionDep) -> JobMetrics:
    return JobMetrics(epochs=lifecycle.epoch_rows(session, job.id), final=job.final_metrics)


@router.get("/jobs/{job_id}/events", response_model=list[JobEventPublic])
def list_events(job: OwnedJob, session: SessionDep,
                after: Annotated[int, WholeNumber, Query(ge=0, le=MAX_INT, description="Only events with a larger seq.")] = 0,
                limit: Annotated[int, WholeNumber, Query(ge=1, le=10_000)] = 1_000) -> list[JobEventPublic]:
    """The event log (the websocket at the same path streams it live)."""
    rows = session.scalars(select(JobEvent).where(JobEvent.job_id == job.id, JobEvent.seq > after)
                           .order_by(JobEvent.seq).limit(limit)).all()
    return [JobEventPublic(seq=r.seq, type=r.type, payload=r.payload) for r in rows]


# ---- artifacts ----------------------------------------------------------------------------


@router.get("/jobs/{job_id}/weights", response_class=FileResponse)
def download_weights(job: OwnedJob, session: SessionDep, settings: SettingsDep, storage: StorageDep,
                     format: Annotated[Literal["safetensors", "pt"], Query()] = "safetensors") -> Response:
    """The trained weights: safetensors (default) or a PyTorch state_dict file."""
    kind = ArtifactKind.WEIGHTS_SAFETENSORS if format == "safetensors" else ArtifactKind.WEIGHTS_PT
    return _artifact(session, settings, storage, job, kind,
                     f"{_slug(job)}.{'safetensors' if format == 'safetensors' else 'pt'}")


@router.get("/jobs/{job_id}/manifest", response_class=FileResponse)
def download_manifest(job: OwnedJob, session: SessionDep, settings: SettingsDep, storage: StorageDep) -> Response:
    return _artifact(session, settings, storage, job, ArtifactKind.MANIFEST, f"{_slug(job)}-manifest.json")


@router.get("/jobs/{job_id}/checkpoint", response_class=FileResponse)
def download_checkpoint(job: OwnedJob, session: SessionDep, settings: SettingsDep, storage: StorageDep) -> Response:
    return _artifact(session, settings, storage, job, ArtifactKind.CHECKPOINT, f"{_slug(job)}-checkpoint.pt")


@router.get("/jobs/{job_id}/results")
def get_results(job: OwnedJob, storage: StorageDep) -> JSONResponse:
    """How the trained model does on the test split (or valid): a confusion matrix per classification
    head, predicted-vs-true pairs per regression head, and a few samples with their predictions."""
    if job.state != JobState.SUCCEEDED:
        raise NotFound(f"The job has no results yet (it is {job.state}).")
    try:
        data = storage.get(job_key(job.id, RUN_DIR, RESULTS_FILE))
    except StorageNotFound:
        raise NotFound(f"The job has no results (it is {job.state}).") from None
    except StorageError as exc:
        raise ServiceUnavailable(f"The job's results could not be read; try again. {exc}") from exc
    return JSONResponse(json.loads(data))


@router.get("/jobs/{job_id}/graph")
def download_graph(job: OwnedJob) -> JSONResponse:
    """The exact graph document the job trained."""
    return JSONResponse(job.graph, headers=attachment_headers(f"{_slug(job)}.json"))


def _artifact(session: Session, settings: Settings, storage: Storage, job: Job, kind: ArtifactKind,
              filename: str) -> Response:
    """A recorded artifact, served from storage (api/downloads.py)."""
    row = session.scalar(select(Artifact).where(Artifact.job_id == job.id, Artifact.kind == kind))
    what = kind.value.replace("_", " ")
    if row is None:
        raise NotFound(f"The job has no {what} yet (it is {job.state}).")
    return stored_file_response(settings, storage, row.path, filename, what)


def _slug(job: Job) -> str:
    name = str(job.graph.get("name") or "model")
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name)[:60] or "model"


def _dataset_name(session: Session, job: Job, names: dict[str, str] | None) -> str:
    """Never an id: an upload is shown by its current name (renames included)."""
    if job.builtin_dataset:
        return job.builtin_dataset
    if not job.dataset_id:
        return "(deleted dataset)"
    if names is not None and job.dataset_id in names:
        return names[job.dataset_id]
    row = session.get(Dataset, job.dataset_id)
    return row.name if row else "(deleted dataset)"


def _public(session: Session, job: Job, dataset_names: dict[str, str] | None = None) -> JobPublic:
    """``dataset_names`` (upload id -> name) saves a query per job when listing."""
    version = session.get(GraphVersion, job.graph_version_id) if job.graph_version_id else None
    return JobPublic(
        id=job.id, state=job.state, graph_name=str(job.graph.get("name") or "untitled"),
        graph_id=version.graph_id if version else None, graph_version=version.number if version else None,
        dataset=job.builtin_dataset or job.dataset_id or "(deleted)",
        dataset_name=_dataset_name(session, job, dataset_names), attempt=job.attempt,
        max_attempts=job.max_attempts, cancel_requested=job.cancel_requested, created_at=job.created_at,
        started_at=job.started_at, finished_at=job.finished_at, error=job.error, final_metrics=job.final_metrics,
        best=job.best, config=job.config, effective_config=_effective_config(job.config), mapping=job.mapping,
        worker_id=job.worker_id)


def _effective_config(config: dict[str, Any]) -> dict[str, Any]:
    """The stored config with every default filled in; the stored one itself if it no longer validates."""
    try:
        return TrainConfig.model_validate(config).model_dump(mode="json", exclude={"mapping"})
    except ValidationError:
        return config


# ---- live events --------------------------------------------------------------------------


class Tickets:
    """One-use websocket tickets. Expired ones are dropped whenever the book is used (issuing or
    redeeming), so an idle server does not keep them."""

    def __init__(self, lifetime_seconds: float = TICKET_SECONDS) -> None:
        self.lifetime = lifetime_seconds
        self._entries: dict[str, tuple[str, str, float]] = {}  # ticket -> (job id, user id, expiry)
        self._lock = threading.Lock()

    def issue(self, job_id: str, user_id: str) -> str:
        ticket = secrets.token_urlsafe(24)
        with self._lock:
            self._purge()
            self._entries[ticket] = (job_id, user_id, time.monotonic() + self.lifetime)
        return ticket

    def redeem(self, ticket: str, job_id: str) -> str | None:
        """The ticket's user id when it is valid for ``job_id``; the ticket is used up either way."""
        with self._lock:
            self._purge()
            entry = self._entries.pop(ticket, None)
        return entry[1] if entry is not None and entry[0] == job_id else None

    def __len__(self) -> int:
        with self._lock:
            self._purge()
            return len(self._entries)

    def _purge(self) -> None:
        now = time.monotonic()
        for key in [k for k, (_, _, expiry) in self._entries.items() if expiry <= now]:
            del self._entries[key]


def _tickets(app: Any) -> Tickets:
    return app.state.__dict__.setdefault("ws_tickets", Tickets())


@router.post("/jobs/{job_id}/ticket")
def create_ticket(job: OwnedJob, request: Request) -> dict[str, Any]:
    """A one-use ticket (valid 60 s) for the websocket, for browsers that cannot send headers."""
    return {"ticket": _tickets(request.app).issue(job.id, job.owner_id), "expires_in": TICKET_SECONDS}


@router.websocket("/jobs/{job_id}/events")
async def stream_events(websocket: WebSocket, job_id: str,
                        after: Annotated[int, WholeNumber, Query(ge=0, le=MAX_INT)] = 0,
                        ticket: Annotated[str | None, Query(max_length=100)] = None) -> None:
    """Replay every event with seq > ``after``, then stream new ones as they are committed; state
    changes arrive as ``{"type": "state", "state": ...}``. Closes with 1000 once the job has ended and
    all is sent, and with 1001 when the server stops. A bad ``after`` closes with 1008 before
    accepting; cross-site and foreign-Host connections are refused by api/security.py."""
    app = websocket.app
    user_id = await run_in_threadpool(_websocket_user, app, websocket, job_id, ticket)
    if user_id is None:
        await websocket.close(code=1008, reason="not allowed: no such job, or a missing or invalid token/ticket")
        return
    await websocket.accept()
    hub: EventHub = app.state.event_hub
    if hub.closing:
        await websocket.close(code=1001)
        return
    feed, queue = hub.subscribe(job_id)  # before the replay: nothing committed from here on is missed
    receiver = asyncio.create_task(_wait_for_disconnect(websocket, queue))
    try:
        await _stream(websocket, app.state.sessionmaker, hub, feed, queue, job_id, max(after, 0))
    except WebSocketDisconnect:
        pass
    finally:
        receiver.cancel()
        hub.unsubscribe(feed, queue)


async def _wait_for_disconnect(websocket: WebSocket, queue: asyncio.Queue) -> None:
    """Watchers send nothing; reading anyway is how a closed socket is noticed at once."""
    try:
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    except Exception:  # the connection broke
        pass
    queue.put_nowait(GONE)


async def _stream(websocket: WebSocket, sessions: Any, hub: EventHub, feed: Any, queue: asyncio.Queue, job_id: str,
                  last_seq: int) -> None:
    async def send_from_log() -> str | None:
        while True:
            rows, state, _ = await run_in_threadpool(read_log, sessions, job_id, last_seq)
            for seq, type_, payload in rows:
                await send_event(*event_item(seq, type_, payload)[1:])
            if len(rows) < READ_BATCH:
                return state

    async def send_event(seq: int, text: str, status: str | None) -> None:
        nonlocal last_seq, last_status
        await websocket.send_text(text)
        last_seq = seq
        last_status = status or last_status

    last_status: str | None = None
    state = await send_from_log()  # the replay: one read of the log
    hub.replayed(feed, last_seq, state)
    await websocket.send_text(json.dumps({"type": "state", "state": state}))
    sent_state = state
    ended_at: float | None = None  # when the job was first seen ended, waiting for its final status event
    loop = asyncio.get_running_loop()
    while True:
        if sent_state in TERMINAL_STATES and (last_status in TERMINAL_STATES or
                                              (ended_at is not None and loop.time() > ended_at + FINAL_EVENT_WAIT)):
            await send_from_log()  # anything committed since the last notification
            await websocket.close(code=1000)
            return
        if sent_state in TERMINAL_STATES and ended_at is None:
            ended_at = loop.time()
        timeout = None if ended_at is None else max(0.0, ended_at + FINAL_EVENT_WAIT - loop.time())
        try:
            item = await asyncio.wait_for(queue.get(), timeout)
        except TimeoutError:
            continue
        if item == GONE:
            return
        if item == CLOSE:
            await websocket.close(code=1001, reason="the server is stopping")
            return
        if item[0] == "event" and item[1] > last_seq:
            if item[1] > last_seq + 1:
                await send_from_log()  # a gap: read it (and this event) from the log
            else:
                await send_event(*item[1:])
        elif item[0] == "head" and item[1] > last_seq:
            await send_from_log()
        elif item[0] == "state" and item[1] is None:
            await websocket.close(code=1000, reason="the job was deleted")
            return
        elif item[0] == "state" and item[1] != sent_state:
            await websocket.send_text(json.dumps({"type": "state", "state": item[1]}))
            sent_state = item[1]


def _websocket_user(app: Any, websocket: WebSocket, job_id: str, ticket: str | None) -> str | None:
    with app.state.sessionmaker() as session:
        if ticket:
            user_id = _tickets(app).redeem(ticket, job_id)
            enabled = user_id is not None and session.scalar(select(User.id).where(User.id == user_id,
                                                                                   User.disabled_at.is_(None)))
            return user_id if enabled else None
        header = websocket.headers.get("authorization", "")
        cookie = websocket.cookies.get(SESSION_COOKIE)
        if header.lower().startswith("bearer "):
            user = auth.user_for_token(session, header[7:].strip())
        elif app.state.settings.auth_mode == "local":
            user = auth.get_or_create_user(session, app.state.settings.local_user_name)
            session.commit()
        elif cookie:  # the logged-in browser (its Origin was checked by api/security.py)
            user = auth.user_for_session(session, cookie)
        else:
            return None
        if user is None:
            return None
        owned = session.scalar(select(Job.id).where(Job.id == job_id, Job.owner_id == user.id))
        return user.id if owned else None
