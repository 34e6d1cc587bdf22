"""The one canonical form of every JSON value we store (documents, configs, options, event payloads).

``canonical_json`` gives one text per value (sorted keys, no spaces) — the input of a document's
sha256 — and refuses, naming the place, what a database would refuse later with a less helpful
error: numbers JSON cannot represent (NaN, ``1e400`` which Python reads as infinity) and NUL
characters (PostgreSQL's JSONB cannot store ``\\u0000``). The engines use it as their JSON
serializer (store/db.py), so nothing reaches a JSON column without passing it; routes call it
first to answer 422 with the field.
"""

from __future__ import annotations

import json
import math
from typing import Any


class NotStorable(ValueError):
    """A JSON value that one of our databases cannot hold; ``field`` is its dotted path."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def canonical_json(value: Any, field: str = "") -> str:
    try:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError):
        problem = _find_unstorable(value, field)
        assert problem is not None
        raise NotStorable(f"{problem[0] or 'The value'} {problem[1]}", problem[0]) from None
    if "\\u0000" in text:  # json.dumps escapes NUL; this may also be an escaped backslash, so look
        problem = _find_unstorable(value, field)
        if problem is not None:
            raise NotStorable(f"{problem[0] or 'The value'} {problem[1]}", problem[0])
    return text


def _find_unstorable(value: Any, path: str) -> tuple[str, str] | None:
    """The first place in ``value`` that cannot be stored, and why (depth-first, document order)."""
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack:
        item, where = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return where, f"is {item!r}, which JSON cannot represent; send a finite number."
        if isinstance(item, str) and "\x00" in item:
            return where, "contains a NUL character (\\u0000); remove it."
        if isinstance(item, dict):
            for key in reversed(list(item)):
                child = f"{where}.{key}" if where else str(key)
                if not isinstance(key, str) or "\x00" in key:
                    return child, "has a key that is not text without NUL characters; rename it."
                stack.append((item[key], child))
        elif isinstance(item, (list, tuple)):
            stack.extend((v, f"{where}.{i}" if where else str(i)) for i, v in reversed(list(enumerate(item))))
        elif not isinstance(item, (str, int, float, bool)) and item is not None:
            return where, f"is a {type(item).__name__}, which is not JSON data."
    return None
