"""Integration fixtures: every test gets a fresh database migrated by the real alembic migrations,
once on SQLite (a new file in tmp_path) and once on PostgreSQL (a new schema in the ``test``
database, selected through the connection's search_path and dropped afterwards).

PostgreSQL tests are skipped when the server cannot be reached, unless CI is set: then they fail.
``LAYERLOOM_TEST_POSTGRES`` points them at another server.

Apps run in token mode with two users: ``client_a`` and ``client_b`` send their bearer tokens,
``anon`` sends none.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi import FastAPI
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from starlette.exceptions import StarletteDeprecationWarning

with warnings.catch_warnings():
    # Starlette asks for the httpx2 package, which this environment does not have; httpx works.
    warnings.simplefilter("ignore", StarletteDeprecationWarning)
    from fastapi.testclient import TestClient

from layerloom.api import create_app
from layerloom.api.auth import create_token, get_or_create_user
from layerloom.settings import Settings
from layerloom.store import make_engine, make_sessionmaker, migrate

POSTGRES_URL = os.environ.get("LAYERLOOM_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="session")
def postgres_reachable() -> bool:
    try:
        psycopg.connect(POSTGRES_URL, connect_timeout=3).close()
        return True
    except psycopg.OperationalError as err:
        if os.environ.get("CI", "").lower() not in ("", "0", "false"):
            pytest.fail(f"PostgreSQL at {POSTGRES_URL} is unreachable and CI is set: {err}")
        return False


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'layerloom.db'}"
        return
    if not request.getfixturevalue("postgres_reachable"):
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable (with CI=true this fails instead)")
    schema = f"test_{uuid.uuid4().hex}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(POSTGRES_URL).set(drivername="postgresql+psycopg", query={"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def fresh_postgres_database(postgres_reachable: bool) -> Iterator[str]:
    """A whole new database (not a schema): what a first ``docker compose up`` meets."""
    if not postgres_reachable:
        pytest.skip(f"PostgreSQL at {POSTGRES_URL} is unreachable (with CI=true this fails instead)")
    name = f"layerloom_mig_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(drivername="postgresql+psycopg", database=name).render_as_string(False)
    finally:
        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_url(database_url: str) -> str:
    migrate(database_url)
    return database_url


@pytest.fixture
def engine(migrated_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_url)
    yield engine
    engine.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    with make_sessionmaker(engine)() as session:
        yield session


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def make_app(migrated_url: str, data_dir: Path) -> Iterator[Callable[..., FastAPI]]:
    """``make_app(**settings)``: an app on this test's database, token mode unless overridden."""
    apps: list[FastAPI] = []

    def make(**overrides: Any) -> FastAPI:
        settings = Settings(**{"database_url": migrated_url, "data_dir": data_dir, "auth_mode": "token",
                               "allowed_hosts": ["testserver"], **overrides})
        apps.append(create_app(settings))
        return apps[-1]

    yield make
    for app in apps:  # before the schema is dropped
        app.state.engine.dispose()


@pytest.fixture
def app(make_app: Callable[..., FastAPI]) -> FastAPI:
    return make_app()


def _token(app: FastAPI, user_name: str) -> str:
    with app.state.sessionmaker() as session:
        return create_token(session, get_or_create_user(session, user_name))


def _client(app: FastAPI, token: str | None = None) -> TestClient:
    return TestClient(app, headers={"Authorization": f"Bearer {token}"} if token else {})


@pytest.fixture
def token_for() -> Callable[[FastAPI, str], str]:
    """``token_for(app, user_name)``: a new bearer token for that user, created if needed."""
    return _token


@pytest.fixture
def client_for() -> Callable[..., TestClient]:
    """``client_for(app, token=None)``: a test client sending that bearer token, or none."""
    return _client


@pytest.fixture
def client_a(app: FastAPI) -> TestClient:
    return _client(app, _token(app, "alice"))


@pytest.fixture
def client_b(app: FastAPI) -> TestClient:
    return _client(app, _token(app, "bob"))


@pytest.fixture
def anon(app: FastAPI) -> TestClient:
    return _client(app)
