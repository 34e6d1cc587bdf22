"""One storage interface for every file of a job (see base.py), a local-directory implementation
(the embedded default) and an S3 one (a cluster), chosen by ``LAYERLOOM_STORAGE_URL``."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from .base import CHUNK, ObjectInfo, Storage, StorageError, StorageNotFound, check_key
from .cache import StorageCache
from .local import LocalStorage

if TYPE_CHECKING:
    from ..settings import Settings

__all__ = ["CHUNK", "LocalStorage", "ObjectInfo", "Storage", "StorageCache", "StorageError", "StorageNotFound", "cache_from_settings",
           "check_key", "parse_storage_url", "storage_from_settings"]


def parse_storage_url(url: str) -> tuple[str, str]:
    """``s3://bucket/prefix`` -> (bucket, prefix); raises ValueError naming what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc or parts.query or parts.fragment:
        raise ValueError(f"LAYERLOOM_STORAGE_URL must be empty (the local data_dir) or s3://bucket[/prefix], got {url!r}.")
    prefix = parts.path.strip("/")
    if prefix:
        try:
            check_key(prefix, "s3")
        except StorageError as exc:
            raise ValueError(f"LAYERLOOM_STORAGE_URL's prefix {prefix!r} is not valid: {exc.detail}.") from None
    return parts.netloc, prefix


_shared: dict[tuple, Storage] = {}
_shared_lock = threading.Lock()


def storage_from_settings(settings: Settings) -> Storage:
    """LocalStorage(data_dir) when ``storage_url`` is empty (``make run`` unchanged), else S3.
    One instance per configuration and process: building an S3 client costs about a second, and a
    client is safe to share between threads."""
    if not settings.storage_url:
        return LocalStorage(settings.data_dir)
    config = (settings.storage_url, settings.storage_endpoint_url, settings.storage_region,
              settings.storage_access_key, settings.storage_secret_key.get_secret_value(),
              settings.storage_timeout_seconds, settings.storage_max_attempts)
    with _shared_lock:
        if config not in _shared:
            from .s3 import S3Storage  # boto3 only where S3 is used

            bucket, prefix = parse_storage_url(settings.storage_url)
            _shared[config] = S3Storage(bucket, prefix, endpoint_url=settings.storage_endpoint_url,
                                        region=settings.storage_region, access_key=settings.storage_access_key,
                                        secret_key=settings.storage_secret_key.get_secret_value() or None,
                                        timeout_seconds=settings.storage_timeout_seconds,
                                        max_attempts=settings.storage_max_attempts)
        return _shared[config]


def cache_from_settings(settings: Settings) -> StorageCache:
    """This machine's local copies of stored objects (under ``storage_cache_dir``)."""
    return StorageCache(storage_from_settings(settings), settings.storage_cache_dir)
