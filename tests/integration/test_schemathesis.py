"""Schemathesis against the app's own OpenAPI document, in both auth modes."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings

from layerloom.api import create_app
from layerloom.settings import Settings
from layerloom.store import migrate

from conftest import _token

MAX_EXAMPLES = int(os.environ.get("LAYERLOOM_FUZZ_EXAMPLES", "10"))


def _document() -> dict:
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(database_url=f"sqlite:///{folder}/unused.db", data_dir=folder))
        document = app.openapi()
        app.state.engine.dispose()
    return document


schema = schemathesis.openapi.from_dict(_document())


@pytest.fixture(scope="module", params=["local", "token"])
def fuzz_target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FastAPI, dict]]:
    folder: Path = tmp_path_factory.mktemp(f"schemathesis-{request.param}")
    url = f"sqlite:///{folder / 'layerloom.db'}"
    migrate(url)
    app = create_app(Settings(database_url=url, data_dir=folder / "data", auth_mode=request.param))
    headers = {"Authorization": f"Bearer {_token(app, 'fuzzer')}"} if request.param == "token" else {}
    yield app, headers
    app.state.engine.dispose()


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_schema(case, fuzz_target: tuple[FastAPI, dict]) -> None:
    app, headers = fuzz_target
    case.call_and_validate(app=app, headers=headers)
