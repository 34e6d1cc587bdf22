"""Which workers exist and whether they still answer: each worker beats every ``BEAT_SECONDS`` into
a registry (name, host, pid, devices, current job, last seen), which costs the database nothing:

- **Redis** (a Redis broker or ``events_url``): one hash, ``layerloom:workers``, field per worker;
- **files** under ``data_dir/workers`` in the embedded mode, where the worker shares the machine.

A worker that has not beaten for ``DEAD_SECONDS`` is dead: the reaper re-queues its job at once
instead of waiting for the lease, and health reports "degraded" while the others still answer. A
worker that stops cleanly removes its entry; a dead one's is forgotten after ``FORGET_SECONDS``.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .notify import redis_events_url

BEAT_SECONDS = 2.0
DEAD_SECONDS = 8.0  # four missed beats; with the reaper's own cycle, a dead worker is noticed in ~10 s
FORGET_SECONDS = 600.0
REDIS_KEY = "layerloom:workers"
FILES_DIR = "workers"


@dataclass
class WorkerRecord:
    id: str  # host:pid, what jobs.worker_id holds
    name: str
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    devices: list[str] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    concurrency: int = 1
    job: str | None = None  # the first of ``jobs``
    jobs: list[str] = field(default_factory=list)  # running now, at most ``concurrency``
    started_at: float = field(default_factory=time.time)
    last_seen: float = field(default_factory=time.time)

    def alive(self, now: float | None = None) -> bool:
        return (now or time.time()) - self.last_seen < DEAD_SECONDS


class RedisWorkers:
    def __init__(self, url: str) -> None:
        import redis

        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    def beat(self, record: WorkerRecord) -> None:
        record.last_seen = time.time()
        self.client.hset(REDIS_KEY, record.id, json.dumps(asdict(record)))

    def remove(self, worker_id: str) -> None:
        self.client.hdel(REDIS_KEY, worker_id)

    def all(self) -> list[WorkerRecord]:
        records = [_record(raw) for raw in self.client.hgetall(REDIS_KEY).values()]
        forgotten = [r.id for r in records if r and time.time() - r.last_seen > FORGET_SECONDS]
        if forgotten:
            self.client.hdel(REDIS_KEY, *forgotten)
        return [r for r in records if r and r.id not in forgotten]


class FileWorkers:
    def __init__(self, data_dir: Path) -> None:
        self.folder = Path(data_dir) / FILES_DIR

    def _path(self, worker_id: str) -> Path:
        return self.folder / ("".join(c if c.isalnum() or c in "-_." else "_" for c in worker_id) + ".json")

    def beat(self, record: WorkerRecord) -> None:
        record.last_seen = time.time()
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self._path(record.id)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(record)))
        os.replace(tmp, path)

    def remove(self, worker_id: str) -> None:
        self._path(worker_id).unlink(missing_ok=True)

    def all(self) -> list[WorkerRecord]:
        records = []
        for path in self.folder.glob("*.json") if self.folder.is_dir() else []:
            try:
                record = _record(path.read_bytes())
            except OSError:
                continue
            if record and time.time() - record.last_seen > FORGET_SECONDS:
                path.unlink(missing_ok=True)
            elif record:
                records.append(record)
        return records


def _record(raw: bytes | str) -> WorkerRecord | None:
    try:
        data = json.loads(raw)
        return WorkerRecord(**{k: v for k, v in data.items() if k in WorkerRecord.__dataclass_fields__})
    except (ValueError, TypeError):
        return None


def worker_registry(settings: Any) -> RedisWorkers | FileWorkers:
    url = redis_events_url(settings)
    return RedisWorkers(url) if url else FileWorkers(settings.data_dir)
