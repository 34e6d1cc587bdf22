"""The storage interface every file of a job goes through, its one error type, and key rules.

A key is a relative POSIX path such as ``jobs/<id>/run/model.safetensors``. Keys are checked
against one full-string pattern before any backend sees them, so no key can name a file outside
the storage root (no ``..``, no absolute path, no backslash, no NUL, no hidden segment).
"""

from __future__ import annotations

import re
import threading
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# Segments: letters, digits, '_', '-', '.', '=', '+', not starting with '.' (so '.', '..' and our
# temporary files are never keys). Joined by single '/'; no leading or trailing '/'.
_SEGMENT = r"[A-Za-z0-9_=+\-][A-Za-z0-9_.=+\-]*"
_KEY = re.compile(rf"{_SEGMENT}(?:/{_SEGMENT})*")
MAX_KEY_LENGTH = 900  # S3 allows 1024 bytes; leave room for the deployment's prefix.
CHUNK = 1 << 20


# Storage failures of this process by (backend, action), for /metrics (api/metrics.py). A missing
# object or a refused key is not a failure of the storage, so neither is counted.
ERRORS: Counter[tuple[str, str]] = Counter()
_ERRORS_LOCK = threading.Lock()


class StorageError(Exception):
    """A storage operation failed: the message names the backend, the key and what went wrong."""

    def __init__(self, backend: str, key: str, action: str, detail: str) -> None:
        self.backend, self.key, self.action, self.detail = backend, key, action, detail
        super().__init__(f"Storage ({backend}) could not {action} {key!r}: {detail}")
        if action != "use" and not isinstance(self, StorageNotFound):
            with _ERRORS_LOCK:
                ERRORS[(backend, action)] += 1


class StorageNotFound(StorageError):
    """The key has no object (a 404 to a client, not an outage)."""

    def __init__(self, backend: str, key: str, action: str) -> None:
        super().__init__(backend, key, action, "no such object")


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    etag: str  # changes whenever the content may have changed (S3 ETag, or mtime_ns+size locally)


def check_key(key: str, backend: str = "storage") -> str:
    """Return ``key`` if it is a safe relative key, else raise StorageError saying why."""
    if not isinstance(key, str) or len(key) > MAX_KEY_LENGTH or not _KEY.fullmatch(key):
        raise StorageError(backend, str(key)[:200], "use", "keys are relative paths of letters, digits and "
                           "'_-.=+' segments joined by '/', without '..', hidden segments, backslashes, NUL "
                           f"or a leading '/', at most {MAX_KEY_LENGTH} characters")
    return key


def check_prefix(prefix: str, backend: str = "storage", allow_empty: bool = True) -> str:
    """A prefix names a folder: '' (everything) or a key. Returned with a trailing '/' unless empty,
    so that deleting ``jobs/ab`` never touches ``jobs/abc``."""
    prefix = prefix.removesuffix("/")
    if prefix == "" and allow_empty:
        return ""
    return check_key(prefix, backend) + "/"


class Storage(ABC):
    """Put, get, open, exists, delete, list and presign objects under string keys."""

    name: str  # "local" or "s3", used in error messages

    @abstractmethod
    def put(self, key: str, source: bytes | BinaryIO | Path) -> None:
        """Store bytes, a readable binary stream or a local file under ``key``, atomically: a reader
        sees the old object or the whole new one, and a failed write leaves nothing under ``key``."""

    def get(self, key: str) -> bytes:
        with self.open(key) as stream:
            return stream.read()

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A readable binary stream of the object (use it as a context manager)."""

    @abstractmethod
    def download(self, key: str, target: Path) -> None:
        """Write the object to the local file ``target`` (streamed, never held in memory)."""

    @abstractmethod
    def stat(self, key: str) -> ObjectInfo | None:
        """Size and etag of the object, or None when there is none."""

    def exists(self, key: str) -> bool:
        return self.stat(key) is not None

    @abstractmethod
    def delete(self, key: str) -> None:
        """Remove the object; removing an absent one is not an error."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every object under the folder ``prefix``; returns how many."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys under the folder ``prefix``, in lexicographic order."""

    def presign(self, key: str, expires_seconds: int = 3600, filename: str | None = None) -> str | None:
        """A URL a client can GET the object from for ``expires_seconds``, or None when the backend
        cannot make one (the caller then streams the object itself)."""
        check_key(key, self.name)
        return None

    def local_path(self, key: str) -> Path | None:
        """The object's file on this machine when the backend is a local directory, else None."""
        return None

    def local_root(self) -> Path | None:
        """The directory every key is a path under, when the backend is a local directory, else None."""
        return None
