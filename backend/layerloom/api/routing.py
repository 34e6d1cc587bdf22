"""The router every route module uses: JSON bodies are size-limited and parsed strictly.

- A body larger than ``max_request_bytes`` is refused (413) while it streams in, before it is
  parsed; uploads (api/uploads.py) read the stream themselves under their own limit.
- Python's json module accepts ``NaN`` and ``Infinity``, which are not JSON: a document carrying
  them could be stored on SQLite but not on PostgreSQL, and could not be sent back in a response.
  They are refused as malformed JSON (422).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from ..data.dataset import human_bytes
from .errors import BadRequest, PayloadTooLarge
from .schemas import ErrorResponse


def declared_length(request: Request) -> int:
    """The Content-Length the client announced (0 if none), to refuse a body before reading it."""
    try:
        return int(request.headers.get("content-length") or 0)
    except ValueError:
        raise BadRequest("The Content-Length header is not a number.") from None


def _refuse_constant(name: str) -> Any:
    raise json.JSONDecodeError(f"{name} is not valid JSON; send a finite number or null", name, 0)


class LimitedJSONRequest(Request):
    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            limit = self.app.state.settings.max_request_bytes
            too_large = PayloadTooLarge(f"The request body is larger than {human_bytes(limit)}.")
            if declared_length(self) > limit:
                raise too_large
            chunks, size = [], 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as err:
                # A JSONDecodeError becomes the documented 422 (code json_invalid, field "body").
                raise json.JSONDecodeError("the body is not UTF-8 text; send JSON encoded as UTF-8",
                                           body.decode("latin-1"), err.start) from None
            self._json = json.loads(text, parse_constant=_refuse_constant)
        return self._json


class LimitedJSONRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def limited_handler(request: Request) -> Response:
            return await handler(LimitedJSONRequest(request.scope, request.receive))

        return limited_handler


def make_router(tag: str, errors: Iterable[int] = (401, 404, 422)) -> APIRouter:
    """A router for one tag: operation ids read ``<tag>-<function name>`` (see app.operation_id),
    and the OpenAPI schema documents ``errors`` with the shared error body."""
    responses: dict[int | str, dict[str, Any]] = {code: {"model": ErrorResponse} for code in errors}
    return APIRouter(tags=[tag], route_class=LimitedJSONRoute, responses=responses)
