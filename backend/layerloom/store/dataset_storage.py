"""Where an uploaded dataset's files live: a folder of objects ``datasets/<id>/`` in storage, with
the same relative layout as under ``data_dir`` (the upload and whatever files are derived from it),
so the embedded LocalStorage(data_dir) needs no copy at all.

Nothing here knows which files a dataset kind has: the upload's folder is published whole, and a
reader (the API, or a worker before its runner starts) syncs the whole folder into its local cache.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from ..storage import Storage, StorageCache
from .datasets import DATASETS_DIR


def dataset_prefix(dataset_id: str) -> str:
    return f"{DATASETS_DIR}/{dataset_id}"


def publish_dataset(storage: Storage, cache: StorageCache, folder: Path, dataset_id: str) -> None:
    """Put every file of the freshly stored ``folder`` under ``datasets/<id>/`` (a no-op when storage
    is data_dir itself). Elsewhere, the files then move into this machine's cache, so the API's first
    read does not download what it just uploaded. Raises StorageError; the caller cleans up."""
    prefix = dataset_prefix(dataset_id)
    files = [path for path in sorted(folder.rglob("*")) if path.is_file()
             and not any(part.startswith(".") for part in path.relative_to(folder).parts)]
    for path in files:
        storage.put(f"{prefix}/{path.relative_to(folder).as_posix()}", path)
    if storage.local_root() is None:
        cache.adopt(prefix, folder)
        shutil.rmtree(folder, ignore_errors=True)  # a staging copy: the API reads through its cache


def local_dataset_file(cache: StorageCache, dataset_id: str, storage_path: str) -> Path:
    """This machine's copy of a stored dataset's file (``Dataset.storage_path``), with the rest of its
    folder beside it. Raises StorageNotFound when storage has no such dataset, StorageError on an outage."""
    return cache.sync(dataset_prefix(dataset_id)) / storage_path


def delete_dataset_files(storage: Storage, cache: StorageCache, data_dir: Path, dataset_id: str) -> None:
    """The dataset's objects, this machine's copies and any local staging folder."""
    prefix = dataset_prefix(dataset_id)
    storage.delete_prefix(prefix)
    cache.forget(prefix)
    shutil.rmtree(Path(data_dir) / prefix, ignore_errors=True)

