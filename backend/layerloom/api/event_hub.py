"""The API's live-event hub: one feed per watched job, fed by notifications (``jobs/notify.py``) and
fanned out to every websocket watching that job.

- A feed reads the database only when a notification does not carry the event itself (a status
  change, a large event, a hint from a local datagram, a gap) and at a slow safety re-check, once per
  job however many watch it. A hundred watchers of one job cost what one costs.
- A watcher replays the log once (its own read, from its ``after``), then takes events from its queue.
  It subscribes before it replays, so every event is either in the replay or in the queue; events it
  already sent are skipped by seq, and a gap is read from the log.
- ``close`` ends every stream with 1001 (going away); the server calls it before it stops.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from starlette.concurrency import run_in_threadpool

from ..jobs.notify import (
    CHANNEL, LOCAL_LISTENERS_DIR, CallbackPublisher, FanoutPublisher, LocalPublisher, Publisher, RedisPublisher,
    event_channel, redis_events_url,
)
from ..settings import Settings
from ..store.models import Job, JobEvent

log = logging.getLogger(__name__)

SAFETY_RECHECK_SECONDS = 5.0  # catches a notification lost on the way (a broker restart, a full socket buffer)
READ_BATCH = 500
CLOSE = "close"  # queue items: ("event", seq, text, status) | ("state", state) | ("head", seq) | CLOSE | GONE
GONE = "gone"

Row = tuple[int, str, dict[str, Any]]


def read_log(sessions: sessionmaker[Session], job_id: str, after: int | None,
             limit: int = READ_BATCH) -> tuple[list[Row], str | None, int]:
    """Events with seq > ``after`` (none when ``after`` is None), the job's state, and the last seq."""
    with sessions() as session:
        rows = [] if after is None else session.execute(
            select(JobEvent.seq, JobEvent.type, JobEvent.payload)
            .where(JobEvent.job_id == job_id, JobEvent.seq > after).order_by(JobEvent.seq).limit(limit)).all()
        state = session.scalar(select(Job.state).where(Job.id == job_id))
        head = rows[-1][0] if rows else (session.scalar(select(func.max(JobEvent.seq))
                                                        .where(JobEvent.job_id == job_id)) or 0)
    return [tuple(r) for r in rows], state, head  # type: ignore[misc]


def event_item(seq: int, type_: str, payload: dict[str, Any]) -> tuple[str, int, str, str | None]:
    """An event as a watcher sends it, rendered once for every watcher: (kind, seq, text, status)."""
    text = json.dumps({"seq": seq, "type": type_, **payload})
    return "event", seq, text, payload.get("status") if type_ == "status" else None


@dataclass(eq=False)
class Feed:
    job_id: str
    queues: set[asyncio.Queue] = field(default_factory=set)
    last_seq: int | None = None  # everything up to here has been broadcast; None: not known yet
    state: str | None = None
    syncing: bool = False
    dirty: bool = False


class EventHub:
    def __init__(self, settings: Settings, sessions: sessionmaker[Session]) -> None:
        self.settings, self.sessions = settings, sessions
        self.channel = event_channel(settings)
        self.loop: asyncio.AbstractEventLoop | None = None
        self.feeds: dict[str, Feed] = {}
        self.tasks: list[asyncio.Task] = []
        self.closing = False
        self.watchers = 0
        self.notifications = 0  # received from the channel (every job's, watched or not): events/s in /metrics
        self._transport: asyncio.DatagramTransport | None = None
        self._port_file: Path | None = None

    # ---- publishing (any thread) ---------------------------------------------------------

    def publisher(self) -> Publisher:
        """What the API's own sessions publish through: this hub directly, plus the channel that
        reaches other API processes."""
        local = CallbackPublisher(self.notify_threadsafe, postgres_notify=self.channel == "postgres")
        if self.channel == "redis":
            return FanoutPublisher([local, RedisPublisher(redis_events_url(self.settings))])
        if self.channel == "local":
            return FanoutPublisher([local, LocalPublisher(self.settings.data_dir)])
        return local

    def notify_threadsafe(self, messages: list[str]) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._on_messages, messages, True)
        except RuntimeError:  # the loop closed in between
            pass

    # ---- lifecycle -----------------------------------------------------------------------

    def ensure_started(self) -> None:
        """Start the listener on the running loop (again, if an earlier loop is gone: test clients)."""
        loop = asyncio.get_running_loop()
        if self.loop is loop:
            return
        self.loop, self.feeds, self.closing = loop, {}, False
        listen: Callable[[], Any] = {"redis": self._listen_redis, "postgres": self._listen_postgres,
                                     "local": self._listen_local}[self.channel]
        self.tasks = [loop.create_task(listen(), name="event-hub-listener"),
                      loop.create_task(self._safety_recheck(), name="event-hub-recheck")]

    async def close(self, grace_seconds: float = 2.0) -> None:
        """Close every stream with 1001 and stop listening; waits up to ``grace_seconds`` for the streams."""
        if self.loop is not asyncio.get_running_loop():
            return
        self.closing = True
        for feed in self.feeds.values():
            for queue in feed.queues:
                queue.put_nowait(CLOSE)
        deadline = self.loop.time() + grace_seconds
        while self.watchers and self.loop.time() < deadline:
            await asyncio.sleep(0.02)
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        self.tasks = []
        if self._transport is not None:
            self._transport.close()
        if self._port_file is not None:
            self._port_file.unlink(missing_ok=True)

    # ---- watchers ------------------------------------------------------------------------

    def subscribe(self, job_id: str) -> tuple[Feed, asyncio.Queue]:
        self.ensure_started()
        feed = self.feeds.get(job_id) or self.feeds.setdefault(job_id, Feed(job_id))
        queue: asyncio.Queue = asyncio.Queue()
        feed.queues.add(queue)
        self.watchers += 1
        return feed, queue

    def unsubscribe(self, feed: Feed, queue: asyncio.Queue) -> None:
        feed.queues.discard(queue)
        self.watchers -= 1
        if not feed.queues and self.feeds.get(feed.job_id) is feed:
            del self.feeds[feed.job_id]  # nobody watches: no re-checks, nothing left behind

    def replayed(self, feed: Feed, last_seq: int, state: str | None) -> None:
        """A watcher read the log up to ``last_seq``: a feed that knew nothing starts from there."""
        if feed.last_seq is None:
            feed.last_seq, feed.state = last_seq, state

    # ---- notifications -------------------------------------------------------------------

    def _on_messages(self, messages: list[str | bytes], trusted: bool) -> None:
        for raw in messages:
            self._on_message(raw, trusted)

    def _on_message(self, raw: str | bytes, trusted: bool) -> None:
        try:
            message = json.loads(raw)
            job_id, seq = message["job"], int(message["seq"])
        except (ValueError, KeyError, TypeError):
            return
        feed = self.feeds.get(job_id) if isinstance(job_id, str) else None
        if feed is None or (feed.last_seq is not None and seq <= feed.last_seq):
            return
        payload = message.get("payload")
        # Untrusted hints (local datagrams) and status events (which change the job's state) are read from
        # the log; the rest is taken as sent, in order.
        if (trusted and feed.last_seq is not None and seq == feed.last_seq + 1 and isinstance(payload, dict)
                and isinstance(message.get("type"), str) and message["type"] != "status"):
            feed.last_seq = seq
            self._broadcast(feed, event_item(seq, message["type"], payload))
        else:
            self._request_sync(feed)

    def _broadcast(self, feed: Feed, item: Any) -> None:
        for queue in feed.queues:
            queue.put_nowait(item)

    def _request_sync(self, feed: Feed) -> None:
        if feed.syncing:
            feed.dirty = True  # one more read after the current one, however many asked
            return
        feed.syncing = True
        asyncio.get_running_loop().create_task(self._sync(feed))

    def _resync_all(self) -> None:
        for feed in list(self.feeds.values()):
            self._request_sync(feed)

    async def _sync(self, feed: Feed) -> None:
        try:
            while True:
                feed.dirty = False
                try:
                    rows, state, head = await run_in_threadpool(read_log, self.sessions, feed.job_id, feed.last_seq)
                except Exception:
                    log.warning("job %s: could not read the event log", feed.job_id, exc_info=True)
                    return
                if feed.last_seq is None:
                    feed.last_seq = head
                    self._broadcast(feed, ("head", head))  # watchers behind it read their gap
                for seq, type_, payload in rows:
                    if seq == feed.last_seq + 1:
                        feed.last_seq = seq
                        self._broadcast(feed, event_item(seq, type_, payload))
                if state != feed.state:
                    feed.state = state
                    self._broadcast(feed, ("state", state))
                if not feed.dirty and len(rows) < READ_BATCH:
                    return
        finally:
            feed.syncing = False

    async def _safety_recheck(self) -> None:
        while True:
            await asyncio.sleep(SAFETY_RECHECK_SECONDS)
            self._resync_all()

    # ---- listeners -----------------------------------------------------------------------

    async def _listen_postgres(self) -> None:
        import psycopg

        conninfo = make_url(self.settings.database_url).set(drivername="postgresql").render_as_string(False)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
                    await conn.execute(f"LISTEN {CHANNEL}")
                    self._resync_all()  # whatever happened while nobody listened
                    async for note in conn.notifies():
                        self.notifications += 1
                        self._on_message(note.payload, True)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("PostgreSQL LISTEN for job events failed; reconnecting", exc_info=True)
                await asyncio.sleep(1.0)

    async def _listen_redis(self) -> None:
        import redis.asyncio as aioredis

        while True:
            client = aioredis.Redis.from_url(redis_events_url(self.settings))
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self._resync_all()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.notifications += 1
                            self._on_message(message["data"], True)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("Redis subscription for job events failed; reconnecting", exc_info=True)
                await asyncio.sleep(1.0)
            finally:
                await client.aclose()

    async def _listen_local(self) -> None:
        hub = self

        class Datagrams(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: Any) -> None:
                hub.notifications += 1
                hub._on_message(data, False)

        loop = asyncio.get_running_loop()
        self._transport, _ = await loop.create_datagram_endpoint(Datagrams, local_addr=("127.0.0.1", 0))
        port = self._transport.get_extra_info("sockname")[1]
        folder = self.settings.data_dir / LOCAL_LISTENERS_DIR
        folder.mkdir(parents=True, exist_ok=True)
        for stale in folder.iterdir():  # listeners of API processes that died without cleaning up
            pid = stale.name.split("-")[0]
            if pid.isdigit() and not _alive(int(pid)):
                stale.unlink(missing_ok=True)
        self._port_file = folder / f"{os.getpid()}-{port}"
        self._port_file.touch()
        await asyncio.Event().wait()  # datagrams arrive through the protocol until cancelled


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
