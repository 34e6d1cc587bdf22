"""A worker's local copies of stored objects: each object is downloaded once per version.

Copies are named by a hash of the key, size and etag, so a changed object is fetched again and an
unchanged one never is. A download goes to a temporary file first, so a half-downloaded copy is
never mistaken for a finished one.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from .base import Storage, StorageError, StorageNotFound, check_key


class StorageCache:
    def __init__(self, storage: Storage, folder: Path) -> None:
        self.storage = storage
        self.folder = Path(folder)

    def fetch(self, key: str) -> Path:
        """A local file with the object's content; raises StorageNotFound when there is none."""
        check_key(key, self.storage.name)
        direct = self.storage.local_path(key)
        if direct is not None:  # local storage: the object already is a file on this machine
            if not direct.is_file():
                raise StorageNotFound(self.storage.name, key, "fetch")
            return direct
        info = self.storage.stat(key)
        if info is None:
            raise StorageNotFound(self.storage.name, key, "fetch")
        digest = hashlib.sha256(f"{key}\0{info.size}\0{info.etag}".encode()).hexdigest()[:32]
        target = self.folder / digest / key.rsplit("/", 1)[-1]
        if target.is_file() and target.stat().st_size == info.size:
            return target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".part-")
            os.close(fd)
        except OSError as exc:
            raise StorageError("cache", key, "fetch", f"cannot write under {self.folder}: {exc}") from exc
        try:
            self.storage.download(key, Path(tmp_name))
            os.replace(tmp_name, target)
        finally:
            Path(tmp_name).unlink(missing_ok=True)
        return target
