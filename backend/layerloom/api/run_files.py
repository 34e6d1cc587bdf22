"""A finished run's model files on the API's machine, for exports and predictions: the run folder
itself with the embedded local storage, else copies of its manifest and weights from storage in
this machine's cache (the worker that trained it may be anywhere)."""

from __future__ import annotations

from pathlib import Path

from ..jobs.runner import RUN_DIR
from ..jobs.supervisor import job_dir, job_key
from ..settings import Settings
from ..storage import cache_from_settings, storage_from_settings
from ..train.artifacts import MANIFEST_FILE, WEIGHTS_SAFETENSORS


def trained_run_dir(settings: Settings, job_id: str) -> Path:
    """Raises StorageNotFound when the run's files are gone, StorageError on an outage."""
    if storage_from_settings(settings).local_root() is not None:
        return job_dir(settings.data_dir, job_id) / RUN_DIR
    keys = [job_key(job_id, RUN_DIR, name) for name in (MANIFEST_FILE, WEIGHTS_SAFETENSORS)]
    return cache_from_settings(settings).mirror(keys, job_key(job_id, RUN_DIR)) / job_key(job_id, RUN_DIR)
