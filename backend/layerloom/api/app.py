"""``create_app(settings)``: the FastAPI application, all routes under ``/api``, and the built
editor (``settings.frontend_dist``) at ``/`` when it has been built.

The app owns one engine and sessionmaker (on ``app.state``), built from the settings it is given,
so tests and tools can run several apps against different databases in one process. It does not
migrate: ``layerloom serve`` (and the tests) call ``layerloom.store.db.migrate`` first.

Adding a route module: write ``routes/<tag>.py`` with ``router = make_router("<tag>")`` and add it
to ``ROUTERS``; operation ids are ``<tag>-<function name>``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from .. import __version__
from ..settings import Settings, get_settings
from ..storage import storage_from_settings
from ..store.db import make_engine, make_sessionmaker
from ..jobs.dispatch import CeleryDispatcher
from ..jobs.workers import worker_registry
from .docs import install_offline_docs
from .errors import install_error_handlers
from .event_hub import EventHub
from .metrics import StatementCounter, install_metrics
from .deps import SESSION_COOKIE
from .security import LocalSafetyMiddleware
from .schemas import ComponentHealth
from .routes import account, admin, datasets, exports, graphs, health, help, jobs, keras_import, layers, predict

ROUTERS = (layers.router, keras_import.router, graphs.router, datasets.router, jobs.router, exports.router,
           predict.router, health.router, help.router, admin.router, account.router)


class EditorFiles(StaticFiles):
    """The built editor. Starlette tries this mount for any path no route fully matched, /api paths
    with a method their route does not take included (GET /api/session); those are the API's 405
    (or 404), never a file lookup."""

    async def get_response(self, path: str, scope):  # type: ignore[no-untyped-def]
        if scope["path"].startswith("/api/"):
            known = any(pattern.match(scope["path"]) for pattern, _, _ in scope["app"].state.route_methods)
            raise StarletteHTTPException(405 if known else 404)
        return await super().get_response(path, scope)


def operation_id(route: APIRoute) -> str:
    """Stable, readable ids for generated clients: ``graphs-create_graph``."""
    return f"{route.tags[0]}-{route.name}"


def _broker_health(settings: Settings) -> ComponentHealth:
    if not settings.broker_url:
        folder = settings.data_dir / "broker"
        return ComponentHealth(status="ok" if folder.is_dir() else "error", detail="filesystem")
    import redis

    redis.Redis.from_url(settings.broker_url, socket_timeout=2).ping()
    return ComponentHealth(status="ok", detail=settings.broker_url.split("@")[-1])


def _worker_health(settings: Settings) -> ComponentHealth:
    workers = worker_registry(settings).all()
    live = sorted(w.name for w in workers if w.alive())
    dead = sorted(w.name for w in workers if not w.alive())
    if live and dead:
        return ComponentHealth(status="degraded", detail=f"{', '.join(live)} answer; {', '.join(dead)} stopped answering")
    if live:
        return ComponentHealth(status="ok", detail=", ".join(live))
    if dead:
        return ComponentHealth(status="error", detail=f"no worker answers ({', '.join(dead)} stopped)")
    return ComponentHealth(status="unknown", detail="no worker has started yet")


def _document_token_as_optional(app: FastAPI) -> None:
    """In local mode a request without a token acts as the local user: say so in the OpenAPI
    document (an empty security requirement makes the bearer token optional), so clients and
    schema fuzzers do not expect a 401."""
    build = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            for operations in build()["paths"].values():
                for operation in operations.values():
                    if "security" in operation:
                        operation["security"] = [{}, *operation["security"]]
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    engine = make_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.event_hub.ensure_started()
        yield
        await app.state.event_hub.close()
        engine.dispose()

    app = FastAPI(
        title="Layerloom",
        version=__version__,
        description="Design neural networks as graphs, check them, and train them with PyTorch.",
        docs_url=None,  # served from local assets by install_offline_docs
        redoc_url=None,
        openapi_url="/api/openapi.json",
        generate_unique_id_function=operation_id,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.storage = storage_from_settings(settings)
    app.state.event_hub = EventHub(settings, make_sessionmaker(engine))
    app.state.sessionmaker = make_sessionmaker(engine, publisher=app.state.event_hub.publisher())
    app.state.dispatch = CeleryDispatcher(settings)
    app.state.login_failures = account.login_failure_counter(settings)
    install_error_handlers(app)
    if settings.auth_mode == "local":
        # No login: anything the user's browser can be made to send would act as the user.
        app.add_middleware(LocalSafetyMiddleware, allowed_hosts=settings.allowed_hosts)
        _document_token_as_optional(app)
    else:
        # The browser's login cookie: its state-changing requests get the same cross-site checks.
        app.add_middleware(LocalSafetyMiddleware, allowed_hosts=(), cookie_only=SESSION_COOKIE)
    install_offline_docs(app)
    health.install_health_checks(app, engine)
    health.add_health_check(app, "broker", lambda: _broker_health(settings))
    health.add_health_check(app, "worker", lambda: _worker_health(settings))
    for router in ROUTERS:
        app.include_router(router, prefix="/api")
    app.state.statement_counter = StatementCounter(engine)
    install_metrics(app, lambda: sum(w.alive() for w in worker_registry(settings).all()))
    # Each path's methods over all its routes, for the Allow header of a 405 (api/errors.py).
    app.state.route_methods = [(compile_path("/api" + route.path)[0], route.path.count("{"), route.methods)
                               for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    if (settings.frontend_dist / "index.html").is_file():
        # Last, so every /api route matches first.
        app.mount("/", EditorFiles(directory=settings.frontend_dist, html=True), name="frontend")
    return app
