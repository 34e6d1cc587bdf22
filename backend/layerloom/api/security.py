"""Local mode: requests a browser can be tricked into sending are refused before any route runs.

In local mode the API has no login, so anything that can make the user's browser send a request
to ``localhost`` could act as the user. Three checks, as one ASGI middleware (HTTP and websocket):

- **Host allow-list** (DNS rebinding): a page on ``evil.example`` whose name is re-pointed at
  127.0.0.1 reaches us with ``Host: evil.example``. Only localhost names and the configured
  ``allowed_hosts`` are served (400 / websocket close 1008).
- **Cross-site requests**: a state-changing request (or any websocket) whose ``Sec-Fetch-Site``
  is not ``same-origin``/``none``, or whose ``Origin`` is not this server's own scheme + host, is
  refused (403 / close 1008).
- **Form-capable requests need the client header**: a plain HTML form or ``fetch`` without CORS
  can send a POST with a form or text body (multipart uploads, bodiless actions like cancel) but
  cannot add a custom header. Such a request must carry ``X-Layerloom-Client`` (any value; the
  editor sends it) unless it authenticates with an ``Authorization`` header, which a form cannot
  send either. JSON bodies are not form-capable: a browser preflights them cross-origin, and this
  server answers no preflight.

Clients that are not browsers (curl, scripts) send neither Origin nor Sec-Fetch-Site and are not
affected by the first two checks; curl uploads in local mode add ``-H 'X-Layerloom-Client: curl'``.

**Token mode** has a login: the browser's session cookie is SameSite=Strict, so no other site's
page makes the browser send it. As a second wall (older browsers, sibling subdomains) the same
cross-site and client-header checks apply to every request that carries the session cookie and no
``Authorization`` header (``cookie_only``); the Host check does not (a rebinding page's requests
carry no cookie of this server, and proxies may use any name).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

CLIENT_HEADER = "x-layerloom-client"
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SAME_ORIGIN_FETCH_SITES = frozenset({"same-origin", "none"})
JSON_CONTENT_TYPES = ("application/json",)


def host_name(host_header: str) -> str:
    """``localhost:8000`` -> ``localhost``; ``[::1]:8000`` -> ``::1``; lower case."""
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def own_origin(scope: Scope, headers: Headers) -> str:
    scheme = {"ws": "http", "wss": "https"}.get(scope.get("scheme", "http"), scope.get("scheme", "http"))
    return f"{scheme}://{headers.get('host', '').lower()}"


class LocalSafetyMiddleware:
    def __init__(self, app: ASGIApp, allowed_hosts: Iterable[str], cookie_only: str | None = None) -> None:
        self.app = app
        self.cookie_only = cookie_only  # token mode: the session cookie's name; only its requests are checked
        extra = [h.strip().lower() for h in allowed_hosts if h.strip()]
        self.any_host = "*" in extra
        self.hosts = frozenset(LOCAL_HOSTS) | {host_name(h) for h in extra}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        refusal = self.refusal(scope, headers)
        if refusal is None:
            await self.app(scope, receive, send)
        elif scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": refusal[2][:120]})
        else:
            status, code, message = refusal
            body = json.dumps({"detail": message, "errors": [{"code": code, "message": message}]}).encode()
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

    def refusal(self, scope: Scope, headers: Headers) -> tuple[int, str, str] | None:
        if self.cookie_only is not None:
            if "authorization" in headers or f"{self.cookie_only}=" not in headers.get("cookie", ""):
                return None
            return self.cross_site_refusal(scope, headers)
        host = host_name(headers.get("host", ""))
        if not self.any_host and host not in self.hosts:
            return (400, "host_not_allowed",
                    f"This server does not answer to the host name {host[:100]!r}; add it to LAYERLOOM_ALLOWED_HOSTS "
                    "if it is really this server's name.")
        return self.cross_site_refusal(scope, headers)

    def cross_site_refusal(self, scope: Scope, headers: Headers) -> tuple[int, str, str] | None:
        websocket = scope["type"] == "websocket"
        if not websocket and scope["method"] in SAFE_METHODS:
            return None
        fetch_site = headers.get("sec-fetch-site")
        origin = headers.get("origin")
        if (fetch_site is not None and fetch_site not in SAME_ORIGIN_FETCH_SITES) or (
                origin is not None and origin.lower() != own_origin(scope, headers)):
            return 403, "cross_site_request", "Cross-site requests are refused; use the Layerloom editor served by this server."
        if not websocket and _form_capable(headers) and "authorization" not in headers and CLIENT_HEADER not in headers:
            return (403, "client_header_required",
                    "Send the header 'X-Layerloom-Client' with this request (any value), or a bearer token: "
                    "a request a web form could send is refused without it.")
        return None


def _form_capable(headers: Headers) -> bool:
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return not (content_type in JSON_CONTENT_TYPES or content_type.endswith("+json"))
