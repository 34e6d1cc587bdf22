"""S3-compatible object storage through boto3: what a cluster uses, so no machine needs a shared path.

Writes are atomic because S3 is: a single PUT or a multipart upload becomes visible under its key
only when it completes, and s3transfer aborts a multipart upload whose source fails. Timeouts and
retries are small on purpose, so an outage fails a job with a StorageError within seconds, not a hang.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO
from urllib.parse import quote

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from .base import ObjectInfo, Storage, StorageError, StorageNotFound, check_key, check_prefix

_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


class S3Storage(Storage):
    name = "s3"

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None, region: str | None = None,
                 access_key: str | None = None, secret_key: str | None = None, timeout_seconds: float = 10,
                 max_attempts: int = 3, client=None) -> None:
        self.bucket = bucket
        self.prefix = check_prefix(prefix, self.name) if prefix else ""
        config = Config(connect_timeout=timeout_seconds, read_timeout=timeout_seconds,
                        retries={"max_attempts": max_attempts, "mode": "standard"},
                        s3={"addressing_style": "path"} if endpoint_url else None)
        # Building a client costs about a second (it loads botocore's service model); pass one to share it.
        self.client = client or boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url or None, region_name=region or None, aws_access_key_id=access_key or None,
            aws_secret_access_key=secret_key or None, config=config)
        # Threads would only hide a failing source behind a pool; one stream is enough for our sizes.
        self.transfer = TransferConfig(use_threads=False)

    def __repr__(self) -> str:
        return f"S3Storage(s3://{self.bucket}/{self.prefix})"

    def _key(self, key: str) -> str:
        return self.prefix + check_key(key, self.name)

    def _error(self, key: str, action: str, exc: Exception) -> StorageError:
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            if str(error.get("Code")) in _NOT_FOUND:
                return StorageNotFound(self.name, key, action)
            detail = f"{error.get('Code')}: {error.get('Message') or exc}"
        else:
            detail = f"{type(exc).__name__}: {exc}"
        return StorageError(self.name, key, action, f"{detail} (bucket {self.bucket!r})")

    def put(self, key: str, source: bytes | BinaryIO | Path) -> None:
        s3_key = self._key(key)
        try:
            if isinstance(source, (bytes, bytearray, memoryview)):
                self.client.put_object(Bucket=self.bucket, Key=s3_key, Body=bytes(source))
            elif isinstance(source, Path):
                self.client.upload_file(str(source), self.bucket, s3_key, Config=self.transfer)
            else:
                self.client.upload_fileobj(source, self.bucket, s3_key, Config=self.transfer)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise self._error(key, "write", exc) from exc

    def open(self, key: str) -> BinaryIO:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except (BotoCoreError, ClientError) as exc:
            raise self._error(key, "read", exc) from exc
        return io.BufferedReader(_BodyReader(self, key, body), buffer_size=1 << 20)

    def download(self, key: str, target: Path) -> None:
        try:
            with open(target, "wb") as out:
                self.client.download_fileobj(self.bucket, self._key(key), out, Config=self.transfer)
        except (BotoCoreError, ClientError, OSError) as exc:
            raise self._error(key, "download", exc) from exc

    def stat(self, key: str) -> ObjectInfo | None:
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            error = self._error(key, "stat", exc)
            if isinstance(error, StorageNotFound):
                return None
            raise error from exc
        return ObjectInfo(size=int(head["ContentLength"]), etag=str(head.get("ETag", "")).strip('"'))

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except (BotoCoreError, ClientError) as exc:
            raise self._error(key, "delete", exc) from exc

    def delete_prefix(self, prefix: str) -> int:
        check_prefix(prefix, self.name, allow_empty=False)
        keys = list(self.list(prefix))
        try:
            for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
                batch = [{"Key": self.prefix + k} for k in keys[start:start + 1000]]
                self.client.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
        except (BotoCoreError, ClientError) as exc:
            raise self._error(prefix, "delete", exc) from exc
        return len(keys)

    def list(self, prefix: str = "") -> Iterator[str]:
        folder = self.prefix + check_prefix(prefix, self.name)
        try:
            keys = [item["Key"].removeprefix(self.prefix)
                    for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=folder)
                    for item in page.get("Contents", [])]
        except (BotoCoreError, ClientError) as exc:
            raise self._error(prefix, "list", exc) from exc
        return iter(sorted(keys))

    def presign(self, key: str, expires_seconds: int = 3600, filename: str | None = None) -> str | None:
        params = {"Bucket": self.bucket, "Key": self._key(key)}
        if filename:
            params["ResponseContentDisposition"] = f"attachment; filename*=UTF-8''{quote(filename)}"
        try:
            return self.client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_seconds)
        except (BotoCoreError, ClientError) as exc:
            raise self._error(key, "presign", exc) from exc


class _BodyReader(io.RawIOBase):
    """A raw stream over a GetObject body that turns a dropped connection into a StorageError."""

    def __init__(self, storage: S3Storage, key: str, body) -> None:
        self.storage, self.key, self.body = storage, key, body

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        try:
            data = self.body.read(len(buffer))
        except (BotoCoreError, ClientError, OSError) as exc:
            raise self.storage._error(self.key, "read", exc) from exc
        buffer[:len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            self.body.close()
        super().close()
