"""Receive a multipart/form-data upload by streaming its one file to a temporary file under
``data_dir``, enforcing the limits as the bytes arrive.

FastAPI's ``UploadFile`` would first spool the whole body to the system's temporary directory and
only then call the route; here a request over the limit is refused (413) as soon as the limit is
passed, before the rest is read, and its partial file is removed.

    async with receive_upload(request, tmp_dir, max_file_bytes=...) as upload:
        upload.fields["name"], upload.path, upload.size, upload.sha256
    # the temporary file is gone here unless the body moved it away
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from fastapi import Request
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from ..data.dataset import human_bytes, sizes_apart
from .errors import BadRequest, PayloadTooLarge, Unprocessable, UnsupportedMediaType, problem
from .routing import declared_length

FILE_FIELD = "file"
MAX_FIELDS = 16
MAX_FIELD_BYTES = 64 * 1024
# Boundaries and part headers around the fields and the file; bounds the early Content-Length check.
MAX_FORM_OVERHEAD = MAX_FIELDS * MAX_FIELD_BYTES + 64 * 1024


@dataclass(frozen=True)
class Quota:
    """The bytes an upload may still store under the user's storage quota, and the error past it."""

    left: int
    refusal: Callable[[], Exception]


@dataclass
class Upload:
    fields: dict[str, str]
    path: Path  # the file part's bytes
    filename: str  # as the client named it: for display only, never part of a path
    size: int
    sha256: str


class _Receiver:
    """multipart callbacks: text fields into memory (small), the file part onto disk (counted)."""

    def __init__(self, out: IO[bytes], max_file_bytes: int, quota: Quota | None = None) -> None:
        self.out, self.max_file_bytes, self.quota = out, max_file_bytes, quota
        self.fields: dict[str, str] = {}
        self.filename: str | None = None
        self.size = 0
        self.sha256 = hashlib.sha256()
        self.finished = False
        self._header_name = self._header_value = b""
        self._disposition = b""
        self._name = ""
        self._in_file = False
        self._buffer = bytearray()

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self.on_part_begin, "on_header_field": self.on_header_field,
            "on_header_value": self.on_header_value, "on_header_end": self.on_header_end,
            "on_headers_finished": self.on_headers_finished, "on_part_data": self.on_part_data,
            "on_part_end": self.on_part_end, "on_end": self.on_end,
        }

    def on_part_begin(self) -> None:
        self._disposition, self._buffer, self._in_file = b"", bytearray(), False

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def on_header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def on_headers_finished(self) -> None:
        _, params = parse_options_header(self._disposition)
        if b"name" not in params:
            raise BadRequest("Every part of the form needs a Content-Disposition header with a name.")
        self._name = params[b"name"].decode("utf-8", "replace")
        if b"filename" in params:
            if self._name != FILE_FIELD or self.filename is not None:
                raise BadRequest(f"Send exactly one file, in the form field {FILE_FIELD!r}.")
            self.filename = params[b"filename"].decode("utf-8", "replace")
            self._in_file = True
        elif len(self.fields) >= MAX_FIELDS:
            raise BadRequest(f"The form has more than {MAX_FIELDS} fields.")

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._in_file:
            self.size += len(chunk)
            if self.size > self.max_file_bytes:
                raise PayloadTooLarge(f"The file is larger than the upload limit of {human_bytes(self.max_file_bytes)}.")
            if self.quota is not None and self.size > self.quota.left:
                raise self.quota.refusal()
            self.out.write(chunk)
            self.sha256.update(chunk)
            return
        self._buffer += chunk
        if len(self._buffer) > MAX_FIELD_BYTES:
            raise PayloadTooLarge(f"The form field {self._name!r} is larger than {human_bytes(MAX_FIELD_BYTES)}.")

    def on_part_end(self) -> None:
        if self._in_file:
            return
        try:
            self.fields[self._name] = self._buffer.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequest(f"The form field {self._name!r} is not UTF-8 text.") from None

    def on_end(self) -> None:
        self.finished = True


def _boundary(request: Request) -> bytes:
    content_type, params = parse_options_header(request.headers.get("content-type"))
    if content_type != b"multipart/form-data" or not params.get(b"boundary"):
        raise UnsupportedMediaType(f"Send the upload as multipart/form-data with the file in the field {FILE_FIELD!r}.")
    return params[b"boundary"]


def _check_declared_length(request: Request, max_file_bytes: int, quota: Quota | None) -> None:
    """Refuse before reading anything when the client announces a body that cannot fit."""
    declared = declared_length(request)
    if quota is not None and declared > quota.left + MAX_FORM_OVERHEAD:
        raise quota.refusal()
    if declared > max_file_bytes + MAX_FORM_OVERHEAD:
        raise PayloadTooLarge(
            "The upload is {}; the limit is {} per file.".format(*sizes_apart(declared, max_file_bytes)))


@asynccontextmanager
async def receive_upload(request: Request, tmp_dir: Path, *, max_file_bytes: int,
                         quota: Quota | None = None) -> AsyncIterator[Upload]:
    boundary = _boundary(request)
    _check_declared_length(request, max_file_bytes, quota)
    tmp_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=tmp_dir)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            receiver = _Receiver(out, max_file_bytes, quota)
            try:
                parser = MultipartParser(boundary, receiver.callbacks())
                # Writing to disk in the event loop: chunks are small and local writes are fast.
                async for chunk in request.stream():
                    parser.write(chunk)
                parser.finalize()
            except FormParserError as err:
                raise BadRequest(f"The multipart body is malformed: {err}") from None
        if not receiver.finished:
            raise BadRequest("The multipart body ended before its closing boundary.")
        if receiver.filename is None:
            message = f"The form has no file; send it in the field {FILE_FIELD!r}."
            raise Unprocessable(message, [problem("missing", message, field=FILE_FIELD)])
        yield Upload(receiver.fields, path, receiver.filename, receiver.size, receiver.sha256.hexdigest())
    finally:
        path.unlink(missing_ok=True)
