"""The API's own documentation: Swagger UI at ``/docs`` and ReDoc at ``/redoc``, served from files
shipped with the product (the ``fastapi-offline`` package carries them), so the pages work without
internet; and an example for every request body in the OpenAPI document.

Examples live here, keyed by operation id, rather than scattered over the route modules: one test
(tests/integration/test_api_docs.py) checks that every request body has one and that the JSON
examples are accepted by the API itself.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles

DOCS_ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/api/docs-assets"

_EXAMPLE_GRAPH: dict[str, Any] = {
    "format": "layerloom.graph",
    "version": 1,
    "name": "seed-mlp",
    "nodes": [
        {"id": "x", "type": "Input", "params": {"shape": [100]}},
        {"id": "d1", "type": "Dense", "params": {"units": 64, "activation": "relu"}},
        {"id": "d2", "type": "Dense", "params": {"units": 10, "activation": "softmax"}},
        {"id": "y", "type": "Output", "params": {"loss": "categorical_crossentropy", "metrics": ["accuracy"]}},
    ],
    "edges": [{"source": "x", "target": "d1"}, {"source": "d1", "target": "d2"}, {"source": "d2", "target": "y"}],
}

_EXAMPLE_JOB: dict[str, Any] = {
    "graph": _EXAMPLE_GRAPH, "dataset": "random_classification", "mapping": {},
    "config": {"epochs": 5, "batch_size": 32, "optimizer": {"name": "adam", "lr": 0.001}},
}

# operation id -> {media type: example body}. A multipart example shows the form's text fields.
REQUEST_EXAMPLES: dict[str, dict[str, Any]] = {
    "graphs-validate_graph": {"application/json": _EXAMPLE_GRAPH},
    "graphs-create_graph": {"application/json": {"name": "seed-mlp", "document": _EXAMPLE_GRAPH}},
    "graphs-update_graph": {"application/json": {"name": "seed-mlp-wide"}},
    "datasets-update_dataset": {"application/json": {"name": "wine (cleaned)"}},
    "graphs-create_graph_version": {"application/json": {"document": _EXAMPLE_GRAPH}},
    "datasets-upload_dataset": {"multipart/form-data": {
        "file": "houses.csv", "kind": "csv", "name": "houses",
        "options": json.dumps({"inputs": {"x": ["rooms", "area"]}, "targets": {"y": "price"}}),
    }},
    "jobs-submit_job": {"application/json": _EXAMPLE_JOB},
    "jobs-check_job": {"application/json": _EXAMPLE_JOB},
    "graphs-import_keras_model": {"multipart/form-data": {"file": "model.keras"}},
    "admin-register_dataset_folder": {"application/json": {
        "path": "/srv/datasets/pets", "name": "pets", "image_size": [64, 64], "color_mode": "rgb"}},
    "account-log_in": {"application/json": {"username": "ada", "password": "correct horse battery staple"}},
    "account-create_token": {"application/json": {"name": "laptop scripts"}},
    "admin-update_user": {"application/json": {"disabled": False, "quotas": {"max_running_jobs": 2}}},
    "jobs-predict": {"application/json": {"inputs": {"x": [0.5, -1.2, 3.0, 0.0]}},
                        "multipart/form-data": {"file": "digit.png"}},
}


# ReDoc's sidebar footer shows Redocly's logo from their CDN; point it at our own icon instead.
REDOC_CDN_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
REDOC_JS = "redoc.standalone.js"


@cache
def _offline_redoc_js() -> bytes:
    return (DOCS_ASSETS / REDOC_JS).read_bytes().replace(REDOC_CDN_LOGO.encode(), f"{ASSETS_URL}/favicon.png".encode())


def install_offline_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` from local assets and add the request examples to the schema."""

    @app.get(f"{ASSETS_URL}/{REDOC_JS}", include_in_schema=False, tags=["docs"])
    def redoc_js() -> Response:  # before the mount, so it takes precedence
        return Response(_offline_redoc_js(), media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=86400"})

    app.mount(ASSETS_URL, StaticFiles(directory=DOCS_ASSETS), name="docs-assets")
    openapi_url = app.openapi_url or "/api/openapi.json"

    @app.get("/docs", include_in_schema=False, tags=["docs"])
    def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url=openapi_url, title=f"{app.title} API",
                                   swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
                                   swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
                                   swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
                                   # Swagger UI would otherwise ask validator.swagger.io for a badge.
                                   swagger_ui_parameters={"validatorUrl": None})

    @app.get("/redoc", include_in_schema=False, tags=["docs"])
    def redoc() -> HTMLResponse:
        return get_redoc_html(openapi_url=openapi_url, title=f"{app.title} API",
                              redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
                              redoc_favicon_url=f"{ASSETS_URL}/favicon.png", with_google_fonts=False)

    plain_openapi = app.openapi

    def openapi_with_examples() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_request_examples(plain_openapi())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi_with_examples  # type: ignore[method-assign]


def add_request_examples(schema: dict[str, Any]) -> None:
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            examples = REQUEST_EXAMPLES.get(operation.get("operationId", "")) if body else None
            for media_type, content in (body or {}).get("content", {}).items():
                if examples and media_type in examples and "example" not in content:
                    content["example"] = examples[media_type]
