"""``GET /api/health``: one status per component, from checks registered on the app.

The app registers "database"; "broker" and "worker" answer "unknown" until the job service
replaces them with real checks:

    add_health_check(app, "broker", lambda: ComponentHealth(status="ok", detail="redis://…"))

A check runs in a worker thread and may block briefly; one that raises counts as an error.
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI, Request, Response
from sqlalchemy import Engine, text

from ..routing import make_router
from ..schemas import ComponentHealth, Health

router = make_router("health", errors=())

HealthCheck = Callable[[], ComponentHealth]
PLACEHOLDER_COMPONENTS = ("broker", "worker")


def add_health_check(app: FastAPI, name: str, check: HealthCheck) -> None:
    """Register, or replace, the check reported as ``components[name]``."""
    app.state.health_checks[name] = check


def install_health_checks(app: FastAPI, engine: Engine) -> None:
    app.state.health_checks = {}
    add_health_check(app, "database", lambda: _database(engine))
    for name in PLACEHOLDER_COMPONENTS:
        add_health_check(app, name, lambda: ComponentHealth(status="unknown", detail="not configured"))


def _database(engine: Engine) -> ComponentHealth:
    with engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return ComponentHealth(status="ok", detail=engine.dialect.name)


@router.get("/health", response_model=Health, responses={503: {"model": Health}})
def get_health(request: Request, response: Response) -> Health:
    """``ok`` (200) unless a component reports an error (503); ``degraded`` (200) when one is degraded
    (a registered worker stopped answering while others still do); ``unknown`` is not an error."""
    components = {}
    for name, check in request.app.state.health_checks.items():
        try:
            components[name] = check()
        except Exception as err:  # a failing check is the news this route exists to report
            components[name] = ComponentHealth(status="error", detail=type(err).__name__)
    failed = any(c.status == "error" for c in components.values())
    degraded = any(c.status == "degraded" for c in components.values())
    response.status_code = 503 if failed else 200
    return Health(status="error" if failed else "degraded" if degraded else "ok", components=components)
