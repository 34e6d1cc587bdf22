"""Telling the API that a job's event log grew, so that live streams are pushed, not polled.

The database stays the log; a notification is a hint that it grew, carrying the event itself when it
is small, so that a hundred watchers of one job cost the database nothing more than one. It is sent
only once the event is committed:

- **PostgreSQL LISTEN/NOTIFY** (the database is PostgreSQL and there is no Redis): ``pg_notify`` runs
  inside the writing transaction, and PostgreSQL delivers it at commit (never for a rollback).
- **Redis pub/sub** (``events_url``, or a Redis ``broker_url``): published after the commit.
- **Local datagrams** (the embedded mode, SQLite): the worker on the same machine sends a hint
  (job id and seq only, never the event: anyone on the machine could send one) to the API over
  loopback UDP; the API then reads the log. Inside the API process, the hub is told directly.

A writer attaches its publisher to its sessionmaker (``make_sessionmaker(engine, publisher=…)``);
``append_event`` calls ``notify_after_commit``. A session without a publisher still notifies on
PostgreSQL, and otherwise relies on the API's slow safety re-check.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)

CHANNEL = "layerloom_job_events"
MAX_INLINE_BYTES = 7000  # PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
PUBLISHER_KEY = "layerloom.event_publisher"
PENDING_KEY = "layerloom.pending_notifications"
LOCAL_LISTENERS_DIR = "notify"  # under data_dir: one file per listening API process, named <pid>-<port>

Channel = Literal["redis", "postgres", "local"]


def event_channel(settings: Any) -> Channel:
    """How this deployment carries notifications (every process derives the same answer from settings)."""
    if redis_events_url(settings):
        return "redis"
    if settings.database_url.startswith("postgresql"):
        return "postgres"
    return "local"


def redis_events_url(settings: Any) -> str:
    if settings.events_url:
        return settings.events_url
    return settings.broker_url if settings.broker_url.startswith(("redis://", "rediss://")) else ""


def event_message(job_id: str, seq: int, type_: str, payload: dict[str, Any], *, inline: bool = True) -> str:
    """The notification text: the whole event when it fits, else only where the log now ends."""
    if inline:
        full = json.dumps({"job": job_id, "seq": seq, "type": type_, "payload": payload}, separators=(",", ":"))
        if len(full.encode("utf-8")) <= MAX_INLINE_BYTES:
            return full
    return json.dumps({"job": job_id, "seq": seq}, separators=(",", ":"))


class Publisher:
    """Where a process sends its notifications. ``postgres_notify``: send NOTIFY inside the transaction;
    ``publish``: called after each commit with the messages of that transaction."""

    postgres_notify = False
    inline = True

    def publish(self, messages: list[str]) -> None:  # pragma: no cover - the base does nothing
        pass


class PostgresPublisher(Publisher):
    postgres_notify = True


class RedisPublisher(Publisher):
    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def publish(self, messages: list[str]) -> None:
        pipe = self.client.pipeline(transaction=False)
        for message in messages:
            pipe.publish(CHANNEL, message)
        pipe.execute()


class LocalPublisher(Publisher):
    """Hints over loopback UDP to every API process that registered a port under ``data_dir/notify``."""

    inline = False
    REFRESH_SECONDS = 1.0

    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir) / LOCAL_LISTENERS_DIR
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.ports: list[int] = []
        self.read_at = 0.0

    def _listener_ports(self) -> list[int]:
        now = time.monotonic()
        if now - self.read_at > self.REFRESH_SECONDS:
            self.read_at = now
            names = os.listdir(self.folder) if self.folder.is_dir() else []
            self.ports = [int(n.split("-")[1]) for n in names if n.count("-") == 1 and n.split("-")[1].isdigit()]
        return self.ports

    def publish(self, messages: list[str]) -> None:
        for port in self._listener_ports():
            for message in messages:
                try:
                    self.sock.sendto(message.encode("utf-8"), ("127.0.0.1", port))
                except OSError:  # a listener that went away: it is no one's problem
                    pass


class CallbackPublisher(Publisher):
    """In-process: hand the messages to a function (the API's hub)."""

    def __init__(self, callback: Callable[[list[str]], None], *, postgres_notify: bool = False) -> None:
        self.callback, self.postgres_notify = callback, postgres_notify

    def publish(self, messages: list[str]) -> None:
        self.callback(messages)


class FanoutPublisher(Publisher):
    def __init__(self, publishers: Iterable[Publisher]) -> None:
        self.publishers = list(publishers)
        self.postgres_notify = any(p.postgres_notify for p in self.publishers)

    def publish(self, messages: list[str]) -> None:
        for publisher in self.publishers:
            publisher.publish(messages)


def publisher_for(settings: Any) -> Publisher:
    """The cross-process publisher of this deployment (what a worker uses)."""
    channel = event_channel(settings)
    if channel == "redis":
        return RedisPublisher(redis_events_url(settings))
    if channel == "postgres":
        return PostgresPublisher()
    return LocalPublisher(settings.data_dir)


def notify_after_commit(session: Session, job_id: str, seq: int, type_: str, payload: dict[str, Any]) -> None:
    """Arrange for watchers of ``job_id`` to hear of event ``seq`` once the session commits."""
    publisher: Publisher | None = session.info.get(PUBLISHER_KEY)
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres and (publisher is None or publisher.postgres_notify):
        session.execute(select(func.pg_notify(CHANNEL, event_message(job_id, seq, type_, payload))))
    if publisher is not None and type(publisher) is not PostgresPublisher:
        message = event_message(job_id, seq, type_, payload, inline=publisher.inline)
        session.info.setdefault(PENDING_KEY, []).append(message)


@event.listens_for(Session, "after_commit")
def _publish_committed(session: Session) -> None:
    messages = session.info.pop(PENDING_KEY, None)
    if not messages:
        return
    try:
        session.info[PUBLISHER_KEY].publish(messages)
    except Exception:  # the event is committed; watchers catch up at the next safety re-check
        log.warning("could not publish %d event notification(s)", len(messages), exc_info=True)


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(PENDING_KEY, None)
