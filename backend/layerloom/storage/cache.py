"""A machine's local copies of stored objects: each object is downloaded once per version.

- ``fetch(key)``: one object, named by a hash of the key, size and etag, so a changed object is
  fetched again and an unchanged one never is.
- ``sync(prefix)``: a whole folder (a dataset: its upload and derived files, whatever they are),
  mirrored with the same relative layout under ``<folder>/tree``, because its files name each other
  by relative path. Each copy's etag is noted in the folder's hidden ``.synced.json``.

A download goes to a temporary file first, so a half-downloaded copy is never mistaken for a
finished one. With local storage both are no-ops: the objects already are files on this machine.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from pathlib import Path

from .base import Storage, StorageError, StorageNotFound, check_key, check_prefix

TREE_DIR = "tree"
SYNC_NOTE = ".synced.json"


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
        self._download(key, target)
        return target

    def sync(self, prefix: str) -> Path:
        """Mirror every object under the folder ``prefix`` on this machine; returns the root under
        which ``root / key`` is the local copy of each. StorageNotFound when the folder is empty."""
        folder = check_prefix(prefix, self.storage.name, allow_empty=False).removesuffix("/")
        root = self.storage.local_root()
        if root is not None:
            if not (root / folder).is_dir():
                raise StorageNotFound(self.storage.name, folder, "sync")
            return root
        keys = list(self.storage.list(folder))
        if not keys:
            raise StorageNotFound(self.storage.name, folder, "sync")
        return self.mirror(keys, folder)

    def mirror(self, keys: list[str], folder: str) -> Path:
        """Copies of ``keys`` (all under the key folder ``folder``) at ``root / key``; returns root.
        StorageNotFound when one of them has no object."""
        root = self.storage.local_root()
        if root is not None:
            for key in keys:
                if not (root / check_key(key, self.storage.name)).is_file():
                    raise StorageNotFound(self.storage.name, key, "fetch")
            return root
        root = self.folder / TREE_DIR
        note_path = root / check_prefix(folder, self.storage.name, allow_empty=False) / SYNC_NOTE
        try:
            synced = json.loads(note_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            synced = {}
        changed = False
        for key in keys:
            info = self.storage.stat(key)
            if info is None:
                raise StorageNotFound(self.storage.name, key, "fetch")
            target = root / key
            if synced.get(key) == info.etag and target.is_file() and target.stat().st_size == info.size:
                continue
            self._download(key, target)
            synced[key], changed = info.etag, True
        if changed:
            tmp = note_path.with_name(f".synced-{os.getpid()}-{threading.get_ident()}.tmp")
            tmp.write_text(json.dumps(synced), encoding="utf-8")
            os.replace(tmp, note_path)
        return root

    def adopt(self, prefix: str, folder: Path) -> None:
        """Move the local files of ``folder``, just stored under ``prefix``, into the mirror (so the
        objects are not downloaded again); what cannot be matched to its object is left to sync."""
        folder_key = check_prefix(prefix, self.storage.name, allow_empty=False).removesuffix("/")
        root = self.folder / TREE_DIR
        synced: dict[str, str] = {}
        for path in sorted(Path(folder).rglob("*")):
            if not path.is_file() or any(p.startswith(".") for p in path.relative_to(folder).parts):
                continue
            key = f"{folder_key}/{path.relative_to(folder).as_posix()}"
            info = self.storage.stat(key)
            if info is None or info.size != path.stat().st_size:
                continue
            target = root / key
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, target)
            synced[key] = info.etag
        (root / folder_key).mkdir(parents=True, exist_ok=True)
        (root / folder_key / SYNC_NOTE).write_text(json.dumps(synced), encoding="utf-8")

    def forget(self, prefix: str) -> None:
        """Drop this machine's copies of a folder (its objects were deleted)."""
        import shutil

        folder = check_prefix(prefix, self.storage.name, allow_empty=False)
        if self.storage.local_root() is None:
            shutil.rmtree(self.folder / TREE_DIR / folder, ignore_errors=True)

    def _download(self, key: str, target: Path) -> None:
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
