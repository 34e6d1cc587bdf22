"""Every error response has one shape: ``{"detail": str, "errors": [{node?, edge?, field?, code, message}]}``.

Routes raise ``ApiError`` subclasses; the handlers installed by ``install_error_handlers`` turn
those, FastAPI's request validation errors (malformed JSON included) and Starlette's HTTP errors
into that shape, so bad input is always a 4xx a client can read field by field.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_KEYS = ("node", "edge", "field", "code", "message", "nodes", "severity")


def problem(code: str, message: str, **where: Any) -> dict[str, Any]:
    return {"code": code, "message": message, **{k: v for k, v in where.items() if v is not None}}


class ApiError(StarletteHTTPException):
    """An error a route reports on purpose. It is an HTTPException so that FastAPI lets it through
    unchanged even when raised while the request body is read (see routing.py)."""

    status = 400
    code = "bad_request"

    def __init__(self, detail: str, errors: Iterable[Mapping[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(self.status, detail, headers)
        self.errors = [{k: e[k] for k in PROBLEM_KEYS if k in e} for e in errors] if errors else [
            problem(self.code, detail)]


class BadRequest(ApiError):
    status, code = 400, "bad_request"


class Unauthorized(ApiError):
    status, code = 401, "unauthorized"

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class NotFound(ApiError):
    status, code = 404, "not_found"


class Conflict(ApiError):
    status, code = 409, "conflict"


class PayloadTooLarge(ApiError):
    status, code = 413, "too_large"


class TooManyRequests(ApiError):
    status, code = 429, "too_many_requests"


class UnsupportedMediaType(ApiError):
    status, code = 415, "unsupported_media_type"


class Unprocessable(ApiError):
    status, code = 422, "invalid"


class ServiceUnavailable(ApiError):
    status, code = 503, "unavailable"


def error_response(status_code: int, detail: str, errors: list[dict[str, Any]],
                   headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail, "errors": errors}, status_code=status_code, headers=headers)


def pydantic_problems(errors: Iterable[Mapping[str, Any]], prefix: str = "") -> list[dict[str, Any]]:
    """pydantic's errors as problems; ``field`` is the dotted location (``body.name``, ``query.limit``),
    after ``prefix`` when given."""
    out = []
    for e in errors:
        loc = ([prefix] if prefix else []) + [str(p) for p in e.get("loc", ())]
        message = e.get("msg", "invalid value")
        if e.get("type") == "json_invalid":  # loc is ("body", character offset)
            message = f"Malformed JSON at character {loc[-1]}: {e.get('ctx', {}).get('error', message)}."
            loc = loc[:-1]
        out.append(problem(e.get("type", "invalid"), message, field=".".join(loc) or None))
    return out


async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
    return error_response(exc.status_code, exc.detail, exc.errors, exc.headers)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = pydantic_problems(exc.errors())
    malformed = any(e["code"] == "json_invalid" for e in errors)
    detail = "The request body is not valid JSON." if malformed else "The request is not valid; see errors."
    return error_response(422, detail, errors)


async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    detail = str(exc.detail)
    headers = exc.headers
    if exc.status_code == 405:
        # Starlette names only the methods of the first route whose path matched; a path served by
        # several routes (GET and DELETE /api/jobs/{id}) allows the methods of all of them.
        # The most literal routes only, as the OpenAPI document lists them: /api/graphs/validate
        # (POST) is not also the GET/PATCH/DELETE of /api/graphs/{graph_id}.
        path = request.url.path
        matching = [(params, methods) for pattern, params, methods in getattr(request.app.state, "route_methods", ())
                    if pattern.match(path)]
        fewest = min((params for params, _ in matching), default=0)
        allowed = sorted({m for params, methods in matching if params == fewest for m in methods})
        headers = {**(headers or {}), "Allow": ", ".join(allowed)}
        detail = f"{request.method} is not allowed here; use {', '.join(allowed)}."
    return error_response(exc.status_code, detail, [problem(f"http_{exc.status_code}", detail)], headers)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette re-raises the exception after this response, so the server logs the traceback.
    return error_response(500, "Internal server error.", [problem("internal_error", "Internal server error.")])


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected_error)
