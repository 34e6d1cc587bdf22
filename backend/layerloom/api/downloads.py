"""Download responses: the one place that builds ``Content-Disposition`` (RFC 6266).

A file name may be any text (graph names are the user's): HTTP headers are Latin-1, so the name is
sent twice — an ASCII fallback in ``filename`` and the exact UTF-8 name, percent-encoded, in
``filename*`` (RFC 5987), which every current browser prefers.
"""

from __future__ import annotations

import unicodedata
from urllib.parse import quote


def attachment_headers(filename: str) -> dict[str, str]:
    stem, dot, extension = filename.rpartition(".") if "." in filename else (filename, "", "")
    return {"Content-Disposition": f"attachment; filename=\"{_ascii(stem) or 'download'}{dot}{_ascii(extension)}\"; "
                                   f"filename*=UTF-8''{quote(filename, safe='')}"}


def _ascii(text: str) -> str:
    """Letters without their accents, other characters outside [A-Za-z0-9-_] as '_'."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(c if c.isascii() and (c.isalnum() or c in "-_") else "_" for c in plain).strip("_")


def stored_file_response(settings, storage, key: str, filename: str, what: str,
                         media_type: str = "application/octet-stream"):
    """A stored object as a download: a local file as is, else a redirect to a presigned URL when the
    settings ask for it, else streamed through the API in chunks. 404 when storage has no such
    object, 503 on a storage outage."""
    from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse

    from ..storage import CHUNK, StorageError, StorageNotFound
    from .errors import NotFound, ServiceUnavailable

    try:
        local = storage.local_path(key)
        if local is not None:
            if not local.is_file():
                raise StorageNotFound(storage.name, key, "read")
            return FileResponse(local, media_type=media_type, headers=attachment_headers(filename))
        info = storage.stat(key)
        if info is None:
            raise StorageNotFound(storage.name, key, "read")
        if settings.storage_presign_downloads:
            url = storage.presign(key, settings.storage_presign_seconds, filename=filename)
            if url:
                return RedirectResponse(url, status_code=307)
        stream = storage.open(key)
    except StorageNotFound:
        raise NotFound(f"The job's {what} file is missing from storage.") from None
    except StorageError as exc:
        raise ServiceUnavailable(f"The job's {what} could not be read; try again. {exc}") from exc

    def chunks():
        with stream:
            while chunk := stream.read(CHUNK):
                yield chunk

    return StreamingResponse(chunks(), media_type=media_type, headers={
        **attachment_headers(filename), "Content-Length": str(info.size)})
