"""The embedded default: objects are files under one directory (today's ``data_dir`` layout)."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .base import CHUNK, ObjectInfo, Storage, StorageError, StorageNotFound, check_key, check_prefix

TEMP_PREFIX = ".tmp-"  # hidden, so never a valid key and never listed


class LocalStorage(Storage):
    name = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root).expanduser().resolve()

    def _path(self, key: str) -> Path:
        return self.root / check_key(key, self.name)

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def local_root(self) -> Path | None:
        return self.root

    def put(self, key: str, source: bytes | BinaryIO | Path) -> None:
        target = self._path(key)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(source, Path) and source.resolve() == target:
                return  # already in place (a run written straight into data_dir)
            # A temporary file in the same directory, then a rename: atomic on one filesystem.
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=TEMP_PREFIX)
        except OSError as exc:
            raise StorageError(self.name, key, "write", str(exc)) from exc
        try:
            with os.fdopen(fd, "wb") as out:
                if isinstance(source, (bytes, bytearray, memoryview)):
                    out.write(source)
                elif isinstance(source, Path):
                    with open(source, "rb") as f:
                        shutil.copyfileobj(f, out, CHUNK)
                else:
                    shutil.copyfileobj(source, out, CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(tmp_name, target)
        except BaseException as exc:
            Path(tmp_name).unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise StorageError(self.name, key, "write", str(exc)) from exc
            raise

    def open(self, key: str) -> BinaryIO:
        path = self._path(key)
        try:
            return open(path, "rb")
        except FileNotFoundError:
            raise StorageNotFound(self.name, key, "read") from None
        except OSError as exc:
            raise StorageError(self.name, key, "read", str(exc)) from exc

    def download(self, key: str, target: Path) -> None:
        with self.open(key) as f, open(target, "wb") as out:
            shutil.copyfileobj(f, out, CHUNK)

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            st = self._path(key).stat()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StorageError(self.name, key, "stat", str(exc)) from exc
        return ObjectInfo(size=st.st_size, etag=f"{st.st_mtime_ns}-{st.st_size}") if os.path.isfile(
            self._path(key)) else None

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageError(self.name, key, "delete", str(exc)) from exc

    def delete_prefix(self, prefix: str) -> int:
        folder = check_prefix(prefix, self.name, allow_empty=False)
        count = sum(1 for _ in self.list(prefix))
        try:
            shutil.rmtree(self.root / folder)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StorageError(self.name, prefix, "delete", str(exc)) from exc
        return count

    def list(self, prefix: str = "") -> Iterator[str]:
        folder = self.root / check_prefix(prefix, self.name)
        if not folder.is_dir():
            return iter(())
        keys = []
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if not name.startswith("."):
                    keys.append(Path(dirpath, name).relative_to(self.root).as_posix())
        return iter(sorted(keys))
