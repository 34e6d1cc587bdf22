"""The API documentation works offline: /docs and /redoc load only files the server itself serves,
and every request body in the OpenAPI document has an example the API accepts."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from layerloom.api import create_app
from layerloom.settings import Settings
from layerloom.store import migrate


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    url = f"sqlite:///{tmp_path / 'docs.db'}"
    migrate(url)
    app = create_app(Settings(database_url=url, data_dir=tmp_path / "data", auth_mode="local",
                              allowed_hosts=["testserver"]))
    app.state.dispatch = lambda *_: None  # no worker here: the job stays queued
    with TestClient(app) as client:
        yield client
    app.state.engine.dispose()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_local_assets(client: TestClient, page: str) -> None:
    html = client.get(page)
    assert html.status_code == 200
    external = re.findall(r"""(?:src|href)=["'](https?:)?//""", html.text)
    assert not external, f"{page} loads files from another host"
    assets = re.findall(r"""(?:src|href)=["'](/[^"']+)["']""", html.text)
    assert assets, "the page names no local assets"
    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200 and len(response.content) > 1000, asset
    assert "/api/openapi.json" in html.text


def test_no_asset_names_another_host_to_load(client: TestClient) -> None:
    """ReDoc's bundle carries one CDN image (its footer logo): it is served pointing at ours."""
    script = client.get("/api/docs-assets/redoc.standalone.js")
    assert script.status_code == 200 and b"cdn.redoc.ly" not in script.content
    assert b"/api/docs-assets/favicon.png" in script.content


def test_every_request_body_has_an_example(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    bodies = [(op["operationId"], media, content) for operations in schema["paths"].values()
              for op in operations.values() if isinstance(op, dict) and op.get("requestBody")
              for media, content in op["requestBody"]["content"].items()]
    assert len(bodies) >= 6
    missing = [f"{op} ({media})" for op, media, content in bodies if "example" not in content and "examples" not in content]
    assert not missing, f"request bodies without an example: {missing}"


def test_the_json_examples_are_accepted_by_the_api(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    example = {op["operationId"]: op["requestBody"]["content"].get("application/json", {}).get("example")
               for operations in schema["paths"].values() for op in operations.values()
               if isinstance(op, dict) and op.get("requestBody")}
    checked = client.post("/api/graphs/validate", json=example["graphs-validate_graph"])
    assert checked.status_code == 200 and checked.json()["ok"], checked.text
    saved = client.post("/api/graphs", json=example["graphs-create_graph"])
    assert saved.status_code == 201, saved.text
    graph_id = saved.json()["graph"]["id"] if "graph" in saved.json() else saved.json()["id"]
    assert client.patch(f"/api/graphs/{graph_id}", json=example["graphs-update_graph"]).status_code == 200
    assert client.post(f"/api/graphs/{graph_id}/versions", json=example["graphs-create_graph_version"]).status_code in (200, 201)
    checked_job = client.post("/api/jobs/check", json=example["jobs-check_job"])
    assert checked_job.status_code == 204, checked_job.text
    submitted = client.post("/api/jobs", json=example["jobs-submit_job"])
    assert submitted.status_code == 201, submitted.text
