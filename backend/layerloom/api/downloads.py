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
