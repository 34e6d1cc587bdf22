"""Failed-login counting: at most N failures per key (a user name, a client address) within a
window; past that, logins for that key are refused with the seconds to wait.

Fixed windows keyed by ``(key, window number)``. In-process by default; in Redis (``INCR`` +
``EXPIRE``) when the deployment has Redis, so that several API processes share the counts.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class FailureCounter(Protocol):
    def retry_after(self, key: str, limit: int) -> int | None: ...
    def record_failure(self, key: str) -> None: ...


class MemoryCounter:
    def __init__(self, window_seconds: int) -> None:
        self.window = window_seconds
        self._counts: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def _slot(self) -> tuple[int, int]:
        now = time.time()
        number = int(now // self.window)
        return number, max(1, int((number + 1) * self.window - now + 0.999))

    def retry_after(self, key: str, limit: int) -> int | None:
        number, left = self._slot()
        with self._lock:
            return left if self._counts.get((key, number), 0) >= limit else None

    def record_failure(self, key: str) -> None:
        number, _ = self._slot()
        with self._lock:
            for old in [k for k in self._counts if k[1] < number]:  # older windows: forgotten
                del self._counts[old]
            self._counts[(key, number)] = self._counts.get((key, number), 0) + 1


class RedisCounter:
    def __init__(self, url: str, window_seconds: int, prefix: str = "layerloom:login:") -> None:
        import redis

        self.redis = redis.Redis.from_url(url, socket_timeout=2)
        self.window, self.prefix = window_seconds, prefix

    def _key(self, key: str) -> tuple[str, int]:
        now = time.time()
        number = int(now // self.window)
        return f"{self.prefix}{number}:{key}", max(1, int((number + 1) * self.window - now + 0.999))

    def retry_after(self, key: str, limit: int) -> int | None:
        name, left = self._key(key)
        return left if int(self.redis.get(name) or 0) >= limit else None

    def record_failure(self, key: str) -> None:
        name, _ = self._key(key)
        with self.redis.pipeline() as pipe:
            pipe.incr(name).expire(name, self.window + 1).execute()


def failure_counter(redis_url: str, window_seconds: int) -> FailureCounter:
    return RedisCounter(redis_url, window_seconds) if redis_url.startswith(("redis://", "rediss://")) else \
        MemoryCounter(window_seconds)
