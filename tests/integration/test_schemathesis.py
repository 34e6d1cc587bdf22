"""Schemathesis against the app's own OpenAPI document, once per auth mode: every operation gets
generated requests, valid and invalid, and every response must be no 5xx, a documented status code
and content type, and a body and headers that conform to the documented schema. Invalid requests
must be refused, and in token mode requests without a valid token too.

The budget is small here (``LAYERLOOM_FUZZ_EXAMPLES`` per operation, 10 by default) to stay within
the suite's time; ``make fuzz`` runs the same tests with far more examples.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from layerloom.api import create_app
from layerloom.api.auth import create_token, get_or_create_user
from layerloom.settings import Settings
from layerloom.store import migrate

MAX_EXAMPLES = int(os.environ.get("LAYERLOOM_FUZZ_EXAMPLES", "10"))
FUZZ_SETTINGS = settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck),
                         derandomize=os.environ.get("LAYERLOOM_FUZZ_RANDOM") is None)


def _document(auth_mode: str) -> dict:
    """The OpenAPI document an app in this mode serves (it does not touch the database)."""
    with tempfile.TemporaryDirectory() as folder:
        app = create_app(Settings(database_url=f"sqlite:///{folder}/unused.db", data_dir=folder, auth_mode=auth_mode))
        document = app.openapi()
        app.state.engine.dispose()
    return document


local_schema = schemathesis.openapi.from_dict(_document("local"))
token_schema = schemathesis.openapi.from_dict(_document("token"))


class _FuzzerToken:
    """The token mode app's bearer token, set by its fixture. Given as schemathesis auth (not as
    plain headers) so negative cases that leave the Authorization header out really do."""

    value = ""

    def get(self, case, context) -> str:
        return _FuzzerToken.value

    def set(self, case, data: str, context) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


token_schema.auth()(_FuzzerToken)


def _served_app(folder: Path, auth_mode: str) -> FastAPI:
    url = f"sqlite:///{folder / 'layerloom.db'}"
    migrate(url)
    return create_app(Settings(database_url=url, data_dir=folder / "data", auth_mode=auth_mode))


@pytest.fixture(scope="module")
def local_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    app = _served_app(tmp_path_factory.mktemp("schemathesis-local"), "local")
    yield app
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def token_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    app = _served_app(tmp_path_factory.mktemp("schemathesis-token"), "token")
    with app.state.sessionmaker() as session:
        _FuzzerToken.value = create_token(session, get_or_create_user(session, "fuzzer"))
    yield app
    app.state.engine.dispose()


def _call_and_validate(case, app: FastAPI, headers: dict[str, str] | None = None) -> None:
    # The schema was loaded at collection, before this test's app existed; checks that send
    # requests of their own (e.g. without the token) reach the app through the schema.
    case.operation.schema.app = case.operation.app = app
    # Not positive_data_acceptance: a request the schema allows may still be refused with a 422
    # naming the field (a file that is no CSV, both or neither of graph and graph_id), since JSON
    # Schema cannot say what the compiler and the dataset loaders check. One host name for every
    # request, the checks' own included: local mode answers only to localhost names.
    case.call_and_validate(base_url="http://localhost", headers=dict(headers or {}),
                           excluded_checks=[positive_data_acceptance])


@local_schema.parametrize()
@FUZZ_SETTINGS
def test_local_mode_conforms_to_its_schema(case, local_app: FastAPI) -> None:
    # As the editor does: local mode refuses requests a web form on another site could send without it.
    _call_and_validate(case, local_app, {"X-Layerloom-Client": "schemathesis"})


@token_schema.parametrize()
@FUZZ_SETTINGS
def test_token_mode_conforms_to_its_schema(case, token_app: FastAPI) -> None:
    _call_and_validate(case, token_app)
