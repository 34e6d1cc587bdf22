"""The REST API end to end, on SQLite and PostgreSQL: every route, its 4xx answers to bad input,
and the 404 another user gets for someone else's objects."""

from __future__ import annotations

import argparse
import io
import json
import uuid
import zipfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import numpy as np
import pytest
from fastapi import FastAPI
from PIL import Image
from sqlalchemy import select

from layerloom.api.routes.health import add_health_check
from layerloom.api.schemas import ComponentHealth
from layerloom.cli import add_token_commands
from layerloom.data import BUILTIN_DATASETS
from layerloom.settings import get_settings
from layerloom.store.models import Dataset, Job, JobState

SEED = json.loads((Path(__file__).parents[2] / "examples" / "seed_mlp.json").read_text())
BROKEN = {
    "format": "layerloom.graph", "version": 1, "name": "broken",
    "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4]}},
              {"id": "d", "type": "Dense", "params": {"units": -1}}],
    "edges": [{"source": "x", "target": "d"}, {"source": "ghost", "target": "d"}],
}
CSV = b"a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n7,8,dog\n"


def error_codes(response: httpx.Response) -> set[str]:
    body = response.json()
    assert set(body) == {"detail", "errors"} and body["detail"], body
    return {e["code"] for e in body["errors"]}


def create_graph(client, document: dict[str, Any] = SEED, **body: Any) -> dict[str, Any]:
    response = client.post("/api/graphs", json={"document": document, **body})
    assert response.status_code == 201, response.text
    return response.json()


def upload(client, filename: str, content: bytes, **form: Any) -> httpx.Response:
    data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in form.items()}
    return client.post("/api/datasets", files={"file": (filename, content)}, data=data)


def png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 10), color).save(buffer, format="PNG")
    return buffer.getvalue()


def make_zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


def stored_files(data_dir: Path) -> list[Path]:
    """Dataset files and in-flight uploads; the SQLite database may sit next to them."""
    return files_under(data_dir / "datasets") + files_under(data_dir / "tmp")


# ---- catalog, schema, docs, health -----------------------------------------------------------


def test_layer_catalog_and_graph_schema_are_public(anon) -> None:
    layers = anon.get("/api/layers")
    assert layers.status_code == 200
    dense = next(entry for entry in layers.json() if entry["type"] == "Dense")
    assert "units" in dense["params_schema"]["properties"]
    schema = anon.get("/api/graph-schema")
    assert schema.status_code == 200 and "nodes" in schema.json()["properties"]


def test_openapi_operation_ids_are_stable_and_tagged(anon) -> None:
    assert anon.get("/docs").status_code == 200
    spec = anon.get("/api/openapi.json").json()
    ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(ids) == len(set(ids))
    for op_id in ids:
        tag, _, name = op_id.partition("-")
        assert tag in {"layers", "graphs", "datasets", "jobs", "health", "help", "admin", "account"} and name, op_id
    assert {"graphs-create_graph", "graphs-validate_graph", "datasets-upload_dataset"} <= set(ids)
    upload_body = spec["paths"]["/api/datasets"]["post"]["requestBody"]["content"]
    assert "multipart/form-data" in upload_body


def test_the_built_editor_is_served_at_the_root_after_the_api(make_app, client_for, tmp_path: Path) -> None:
    dist = tmp_path / "dist"
    dist.mkdir()
    (dist / "index.html").write_text("<!doctype html><title>Layerloom</title>")
    client = client_for(make_app(frontend_dist=dist))
    assert "Layerloom" in client.get("/").text
    assert client.get("/api/health").json()["status"] == "ok"
    assert error_codes(client.get("/api/no-such-route")) == {"http_404"}
    wrong_method = client.get("/api/session")  # a POST/DELETE route: the API's 405, not a file lookup
    assert wrong_method.status_code == 405 and wrong_method.headers["allow"] == "DELETE, POST"
    assert client_for(make_app(frontend_dist=tmp_path / "not-built")).get("/").status_code == 404


def test_health_reports_database_broker_and_worker(anon) -> None:
    response = anon.get("/api/health")
    assert response.status_code == 200
    components = response.json()["components"]
    assert components["database"]["status"] == "ok"
    assert components["broker"] == {"status": "ok", "detail": "filesystem"}
    assert components["worker"]["status"] == "unknown"  # no worker has started in this data dir


def test_health_checks_are_a_hook_and_a_failing_one_is_503(app: FastAPI, anon) -> None:
    add_health_check(app, "broker", lambda: ComponentHealth(status="ok", detail="filesystem"))

    def worker() -> ComponentHealth:
        raise ConnectionError("no worker")

    add_health_check(app, "worker", worker)
    response = anon.get("/api/health")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "error"
    assert body["components"]["broker"] == {"status": "ok", "detail": "filesystem"}
    assert body["components"]["worker"]["status"] == "error"


# ---- authentication ----------------------------------------------------------------------------


def test_token_mode_without_a_token_is_401(anon) -> None:
    response = anon.get("/api/graphs")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert error_codes(response) == {"unauthorized"}


@pytest.mark.parametrize("header", ["Bearer ll_not-a-real-token", "Basic YWxpY2U6c2VjcmV0", "Bearer"])
def test_token_mode_with_a_wrong_token_is_401(anon, header: str) -> None:
    response = anon.get("/api/graphs", headers={"Authorization": header})
    assert response.status_code == 401
    assert error_codes(response) == {"unauthorized"}


def test_local_mode_acts_as_the_local_user_without_a_token(make_app, client_for, token_for) -> None:
    app = make_app(auth_mode="local")
    local = client_for(app)
    create_graph(local)
    assert local.get("/api/graphs").json()["count"] == 1
    alice = client_for(app, token_for(app, "alice"))  # tokens still work, as their own user
    assert alice.get("/api/graphs").json()["count"] == 0
    assert local.get("/api/graphs", headers={"Authorization": "Bearer wrong"}).status_code == 401


def test_token_create_command_prints_a_working_token(app: FastAPI, client_for, migrated_url: str, data_dir: Path,
                                                     monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("LAYERLOOM_DATABASE_URL", migrated_url)
    monkeypatch.setenv("LAYERLOOM_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    parser = argparse.ArgumentParser(prog="layerloom")
    add_token_commands(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(["token", "create", "carol"])
        assert args.func(args) == 0
    finally:
        get_settings.cache_clear()
    token = capsys.readouterr().out.strip()
    assert token.startswith("ll_")
    assert client_for(app, token).get("/api/graphs").status_code == 200


# ---- validating graphs -------------------------------------------------------------------------


def test_validate_returns_the_analysis_and_summary(client_a) -> None:
    response = client_a.post("/api/graphs/validate", json=SEED)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True and body["errors"] == []
    assert body["nodes"]["d1"]["output_shape"] == [64]
    assert body["totals"]["total"] == body["summary"]["total"] == 7114
    assert [row["node"] for row in body["summary"]["rows"]] == body["order"]


def test_validate_reports_every_problem_by_node_edge_and_field_as_200(client_a) -> None:
    response = client_a.post("/api/graphs/validate", json=BROKEN)
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is False
    by_code = {e["code"]: e for e in body["errors"]}
    assert by_code["bad_param"]["node"] == "d" and by_code["bad_param"]["field"] == "params.units"
    assert by_code["dangling_edge"]["edge"] == 1 and by_code["dangling_edge"]["field"] == "source"
    assert "no_output" in by_code


@pytest.mark.parametrize("expression, column", [("__import__('os').system('ls')", 1), ("x+" * 524_288, 1001)],
                         ids=["import", "one_megabyte"])
def test_a_hostile_lambda_expression_is_a_bad_param_with_its_column_not_a_500(client_a, expression, column) -> None:
    graph = {"format": "layerloom.graph", "version": 1, "name": "hostile",
             "nodes": [{"id": "x", "type": "Input", "params": {"shape": [4]}},
                       {"id": "lam", "type": "Lambda", "params": {"expression": expression}},
                       {"id": "y", "type": "Output", "params": {"loss": "mse"}}],
             "edges": [{"source": "x", "target": "lam"}, {"source": "lam", "target": "y"}]}
    response = client_a.post("/api/graphs/validate", json=graph)
    assert response.status_code == 200
    [error] = response.json()["errors"]
    assert (error["code"], error["node"], error["field"]) == ("bad_param", "lam", "params.expression")
    assert f"column {column}:" in error["message"]
    assert len(response.content) < 10_000  # the expression is not echoed back


@pytest.mark.parametrize("body, code", [
    (b'{"nodes": [', "json_invalid"),
    (b'{"nodes": [{"id": "x", "params": {"shape": [NaN]}}]}', "json_invalid"),
    (b'[{"nodes": []}]', "dict_type"),
    (b"", "missing"),
], ids=["truncated", "nan", "not_an_object", "empty"])
def test_validate_refuses_malformed_requests(client_a, body: bytes, code: str) -> None:
    response = client_a.post("/api/graphs/validate", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    assert code in error_codes(response)


def test_a_json_body_over_the_request_limit_is_413(make_app, client_for, token_for) -> None:
    app = make_app(max_request_bytes=4096)
    client = client_for(app, token_for(app, "alice"))
    response = client.post("/api/graphs/validate", json={**SEED, "description": "x" * 5000})
    assert response.status_code == 413
    assert error_codes(response) == {"too_large"}


# ---- graphs and versions ----------------------------------------------------------------------


def test_create_graph_stores_the_document_as_version_one(client_a) -> None:
    saved = create_graph(client_a)
    assert saved["graph"]["name"] == "seed-mlp" and saved["graph"]["latest_version"] == 1
    assert saved["version"]["number"] == 1 and saved["check"] == {"ok": True, "errors": [], "warnings": []}
    fetched = client_a.get(f"/api/graphs/{saved['graph']['id']}").json()
    assert fetched["version"]["document"] == SEED
    assert fetched["version"]["sha256"] == saved["version"]["sha256"]


def test_a_graph_with_compile_errors_is_saved_as_a_draft(client_a) -> None:
    saved = create_graph(client_a, BROKEN, name="draft")
    assert saved["graph"]["name"] == "draft"
    assert saved["check"]["ok"] is False
    assert {"node": "d", "field": "params.units"}.items() <= saved["check"]["errors"][0].items()


@pytest.mark.parametrize("document, code", [
    ({"format": "other.format", "nodes": []}, "format"),
    ({"version": 99, "nodes": []}, "version_unsupported"),
    ({"nodes": "not a list"}, "schema"),
    ({"nodes": [], "description": "nul \u0000 byte"}, "not_storable"),
])
def test_a_document_that_is_not_a_graph_is_refused_and_not_stored(client_a, document, code) -> None:
    response = client_a.post("/api/graphs", json={"document": document})
    assert response.status_code == 422
    assert code in error_codes(response)
    assert client_a.get("/api/graphs").json()["count"] == 0


@pytest.mark.parametrize("body, field", [
    ({}, "body.document"),
    ({"document": SEED, "name": "  "}, "body.name"),
    ({"document": [1, 2]}, "body.document"),
])
def test_create_graph_request_errors_name_the_field(client_a, body, field) -> None:
    response = client_a.post("/api/graphs", json=body)
    assert response.status_code == 422
    assert field in {e.get("field") for e in response.json()["errors"]}


def test_new_versions_are_numbered_and_old_ones_never_change(client_a) -> None:
    graph_id = create_graph(client_a)["graph"]["id"]
    changed = {**SEED, "name": "seed-v2"}
    for expected in (2, 3):
        response = client_a.post(f"/api/graphs/{graph_id}/versions", json={"document": changed})
        assert response.status_code == 201 and response.json()["version"]["number"] == expected
        assert response.json()["graph"]["latest_version"] == expected
    assert client_a.get(f"/api/graphs/{graph_id}/versions/1").json()["document"] == SEED
    assert client_a.get(f"/api/graphs/{graph_id}/versions/3").json()["document"] == changed
    latest = client_a.get(f"/api/graphs/{graph_id}").json()
    assert latest["latest_version"] == 3 and latest["version"]["document"] == changed


def test_versions_are_listed_newest_first_with_paging(client_a) -> None:
    graph_id = create_graph(client_a)["graph"]["id"]
    for _ in range(3):
        client_a.post(f"/api/graphs/{graph_id}/versions", json={"document": SEED})
    page = client_a.get(f"/api/graphs/{graph_id}/versions", params={"offset": 1, "limit": 2}).json()
    assert page["count"] == 4
    assert [v["number"] for v in page["data"]] == [3, 2]
    assert "document" not in page["data"][0]


@pytest.mark.parametrize("number, status", [(9, 404), (0, 422), ("one", 422)])
def test_a_version_that_does_not_exist_is_404(client_a, number, status) -> None:
    graph_id = create_graph(client_a)["graph"]["id"]
    assert client_a.get(f"/api/graphs/{graph_id}/versions/{number}").status_code == status


def test_graphs_are_listed_with_paging_and_a_name_filter(client_a) -> None:
    for name in ("Alpha net", "beta", "alpha_2", "100% alpha"):
        create_graph(client_a, name=name)
    everything = client_a.get("/api/graphs").json()
    assert everything["count"] == 4
    assert [g["name"] for g in everything["data"]] == ["100% alpha", "alpha_2", "beta", "Alpha net"]

    def names(**params: Any) -> list[str]:
        return sorted(g["name"] for g in client_a.get("/api/graphs", params=params).json()["data"])

    assert names(name="ALPHA") == ["100% alpha", "Alpha net", "alpha_2"]
    assert names(name="a_") == ["alpha_2"]  # "_" is a character, not a wildcard
    assert names(name="0%") == ["100% alpha"]
    page = client_a.get("/api/graphs", params={"offset": 1, "limit": 2}).json()
    assert page["count"] == 4 and [g["name"] for g in page["data"]] == ["alpha_2", "beta"]
    assert client_a.get("/api/graphs", params={"limit": 0}).status_code == 422


def test_rename_and_delete_a_graph(client_a) -> None:
    saved = create_graph(client_a)
    graph_id = saved["graph"]["id"]
    renamed = client_a.patch(f"/api/graphs/{graph_id}", json={"name": "renamed"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "renamed"
    assert renamed.json()["latest_version"] == 1
    assert client_a.delete(f"/api/graphs/{graph_id}").status_code == 204
    assert client_a.get(f"/api/graphs/{graph_id}").status_code == 404
    assert client_a.get(f"/api/graphs/{graph_id}/versions/1").status_code == 404


def test_another_users_graph_is_404_everywhere(client_a, client_b) -> None:
    graph_id = create_graph(client_a)["graph"]["id"]
    attempts = [
        client_b.get(f"/api/graphs/{graph_id}"),
        client_b.patch(f"/api/graphs/{graph_id}", json={"name": "mine now"}),
        client_b.delete(f"/api/graphs/{graph_id}"),
        client_b.post(f"/api/graphs/{graph_id}/versions", json={"document": SEED}),
        client_b.get(f"/api/graphs/{graph_id}/versions"),
        client_b.get(f"/api/graphs/{graph_id}/versions/1"),
    ]
    assert [r.status_code for r in attempts] == [404] * len(attempts)
    missing = client_b.get(f"/api/graphs/{uuid.uuid4()}")
    assert attempts[0].json()["errors"][0]["code"] == missing.json()["errors"][0]["code"] == "not_found"
    assert client_b.get("/api/graphs").json() == {"data": [], "count": 0}
    untouched = client_a.get(f"/api/graphs/{graph_id}").json()
    assert untouched["name"] == "seed-mlp" and untouched["latest_version"] == 1


# ---- datasets -----------------------------------------------------------------------------------


def test_builtins_are_listed_before_uploads(client_a) -> None:
    uploaded = upload(client_a, "pets.csv", CSV).json()
    listing = client_a.get("/api/datasets").json()
    assert listing["count"] == len(BUILTIN_DATASETS) + 1
    assert [d["id"] for d in listing["data"]] == [*BUILTIN_DATASETS, uploaded["id"]]
    boundary = client_a.get("/api/datasets", params={"offset": len(BUILTIN_DATASETS) - 1, "limit": 5}).json()
    assert [d["id"] for d in boundary["data"]] == [list(BUILTIN_DATASETS)[-1], uploaded["id"]]


def test_a_builtin_dataset_is_described_and_cannot_be_deleted(client_a) -> None:
    iris = client_a.get("/api/datasets/iris")
    assert iris.status_code == 200
    body = iris.json()
    assert body["kind"] == "builtin" and body["task"] == "classification"
    assert {a["name"]: a["shape"] for a in body["description"]["arrays"]} == {"x": [4], "y": []}
    assert client_a.delete("/api/datasets/iris").status_code == 409


def test_csv_upload_is_parsed_and_stored_under_a_server_chosen_name(client_a, data_dir: Path) -> None:
    response = upload(client_a, "../../evil name.csv", CSV,
                      options={"inputs": {"features": ["a", "b"]}, "targets": {"pet": "label"}})
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["name"] == "evil name" and dataset["kind"] == "csv" and dataset["size_bytes"] == len(CSV)
    arrays = {a["name"]: a for a in dataset["description"]["arrays"]}
    assert arrays["features"]["shape"] == [2] and arrays["pet"]["class_names"] == ["cat", "dog"]
    folder = data_dir / "datasets" / dataset["id"]
    # The file as uploaded, and its parsed arrays (one .npy per split and array, named by position).
    assert stored_files(data_dir) == [folder / "arrays" / "dataset.json", folder / "arrays" / "train-0.npy",
                                      folder / "arrays" / "train-1.npy", folder / "data.csv"]
    assert (folder / "data.csv").read_bytes() == CSV
    assert client_a.get(f"/api/datasets/{dataset['id']}").json() == dataset


def test_npz_upload(client_a) -> None:
    buffer = io.BytesIO()
    rng = np.random.default_rng(0)
    np.savez(buffer, x_train=rng.random((6, 3), dtype=np.float32), y_train=np.array([0, 1, 0, 1, 0, 1]),
             x_test=rng.random((2, 3), dtype=np.float32), y_test=np.array([1, 0]))
    response = upload(client_a, "arrays.npz", buffer.getvalue(), name="arrays", options={"arrays": ["x", "y"]})
    assert response.status_code == 201, response.text
    assert response.json()["description"]["sizes"] == {"train": 6, "test": 2}


def test_image_zip_upload(client_a) -> None:
    archive = make_zip({f"train/{label}/{i}.png": png(color) for label, color in (("red", (255, 0, 0)),
                                                                                  ("blue", (0, 0, 255)))
                        for i in range(3)})
    response = upload(client_a, "pictures.zip", archive, options={"image_size": [8, 8], "color_mode": "grayscale"})
    assert response.status_code == 201, response.text
    arrays = {a["name"]: a for a in response.json()["description"]["arrays"]}
    assert arrays["x"]["shape"] == [1, 8, 8] and arrays["y"]["class_names"] == ["blue", "red"]


def test_a_file_that_does_not_parse_is_422_with_its_problems_and_leaves_nothing(client_a, data_dir: Path) -> None:
    response = upload(client_a, "pets.csv", CSV, options={"targets": {"y": "no_such_column"}})
    assert response.status_code == 422
    problem = response.json()["errors"][0]
    assert (problem["code"], problem["field"]) == ("unknown_column", "targets.y")
    assert stored_files(data_dir) == []
    assert client_a.get("/api/datasets").json()["count"] == len(BUILTIN_DATASETS)


@pytest.mark.parametrize("form, code, field", [
    ({"options": "{not json"}, "json_invalid", "options"),
    ({"options": '{"x": NaN}'}, "json_invalid", "options"),
    ({"options": "[1, 2]"}, "type_error", "options"),
    ({"options": {"bogus": 1}}, "extra_forbidden", "options.bogus"),
    ({"options": {"delimiter": ";;"}}, "string_too_long", "options.delimiter"),
    ({"kind": "spreadsheet"}, "enum", "kind"),
    ({"name": "x" * 201}, "string_too_long", "name"),
    ({"colour": "red"}, "unknown_field", "colour"),
])
def test_bad_upload_fields_are_422_naming_the_field(client_a, data_dir: Path, form, code, field) -> None:
    response = upload(client_a, "pets.csv", CSV, **form)
    assert response.status_code == 422
    assert {"code": code, "field": field}.items() <= response.json()["errors"][0].items()
    assert stored_files(data_dir) == []


def test_the_kind_comes_from_the_extension_or_must_be_given(client_a) -> None:
    assert upload(client_a, "pets.txt", CSV).status_code == 422
    assert upload(client_a, "pets.txt", CSV, kind="csv").status_code == 201


def test_an_oversized_upload_is_413_and_leaves_nothing(make_app, client_for, token_for, data_dir: Path) -> None:
    app = make_app(max_upload_bytes=64 * 1024)
    client = client_for(app, token_for(app, "alice"))
    big = b"a,b,label\n" + b"1,2,cat\n" * 20_000
    response = upload(client, "big.csv", big)
    assert response.status_code == 413
    assert error_codes(response) == {"too_large"}
    assert stored_files(data_dir) == []
    with app.state.sessionmaker() as session:
        assert session.scalars(select(Dataset)).all() == []


def test_an_oversized_upload_is_refused_while_it_streams(make_app, token_for, data_dir: Path) -> None:
    limit, chunk_size = 64 * 1024, 16 * 1024
    app = make_app(max_upload_bytes=limit)
    token = token_for(app, "alice")
    sent = 0

    async def body() -> AsyncIterator[bytes]:  # 100 MB if read to the end; no Content-Length
        nonlocal sent
        yield b'--B\r\nContent-Disposition: form-data; name="file"; filename="big.csv"\r\n\r\n'
        for _ in range(100 * 1024 * 1024 // chunk_size):
            sent += chunk_size
            yield b"1" * chunk_size

    async def post() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as client:
            return await client.post("/api/datasets", content=body(), headers={
                "Authorization": f"Bearer {token}", "Content-Type": "multipart/form-data; boundary=B"})

    response = anyio.run(post)
    assert response.status_code == 413
    assert sent <= limit + 2 * chunk_size
    assert stored_files(data_dir) == []


def test_a_zip_with_parent_directory_paths_is_422(client_a, data_dir: Path) -> None:
    archive = make_zip({"train/cat/1.png": png((1, 2, 3)), "../../escaped.png": png((3, 2, 1)),
                        "train/dog/1.png": png((9, 9, 9))})
    response = upload(client_a, "pets.zip", archive)
    assert response.status_code == 422
    assert "unsafe_path" in error_codes(response)
    assert stored_files(data_dir) == []
    assert not list(data_dir.parent.rglob("escaped.png"))


def test_a_zip_bomb_is_422(client_a, data_dir: Path) -> None:
    archive = make_zip({"train/cat/1.png": png((1, 2, 3)), "train/dog/bomb.png": bytes(20 * 1024 * 1024)})
    assert len(archive) < 100 * 1024
    response = upload(client_a, "pets.zip", archive)
    assert response.status_code == 422
    assert "compression_ratio" in error_codes(response)
    assert stored_files(data_dir) == []


@pytest.mark.parametrize("request_kwargs, status", [
    ({"content": b"--B\r\nnot a part", "headers": {"Content-Type": "multipart/form-data; boundary=B"}}, 400),
    ({"content": b"garbage", "headers": {"Content-Type": "multipart/form-data; boundary=B"}}, 400),
    ({"data": {"name": "no file"}, "files": {"other": ("x.csv", b"1")}}, 400),
    ({"json": {"file": "pets.csv"}}, 415),
], ids=["truncated", "garbage", "file_in_wrong_field", "not_multipart"])
def test_malformed_uploads_are_4xx(client_a, data_dir: Path, request_kwargs, status) -> None:
    response = client_a.post("/api/datasets", **request_kwargs)
    assert response.status_code == status
    error_codes(response)
    assert stored_files(data_dir) == []


def test_an_upload_without_a_file_is_422(client_a) -> None:
    boundary = "B"
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nx\r\n--{boundary}--\r\n'
    response = client_a.post("/api/datasets", content=body.encode(),
                             headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "file"


@pytest.mark.parametrize("dataset_id", ["0b7f1f0e-2f44-4a8e-9d1e-6d3c5a0f9b21", "no-such-builtin"])
def test_an_unknown_dataset_is_404(client_a, dataset_id: str) -> None:
    assert client_a.get(f"/api/datasets/{dataset_id}").status_code == 404
    assert client_a.delete(f"/api/datasets/{dataset_id}").status_code == 404


def test_another_users_dataset_is_404(client_a, client_b, data_dir: Path) -> None:
    dataset_id = upload(client_a, "pets.csv", CSV).json()["id"]
    assert client_b.get(f"/api/datasets/{dataset_id}").status_code == 404
    assert client_b.delete(f"/api/datasets/{dataset_id}").status_code == 404
    assert dataset_id not in {d["id"] for d in client_b.get("/api/datasets").json()["data"]}
    assert client_a.get(f"/api/datasets/{dataset_id}").status_code == 200
    assert {p.parent.name if p.parent.name == "arrays" else p.name for p in stored_files(data_dir)} == {"arrays", "data.csv"}


def test_deleting_a_dataset_removes_its_file_unless_a_job_uses_it(app: FastAPI, client_a, data_dir: Path) -> None:
    dataset = upload(client_a, "pets.csv", CSV).json()
    with app.state.sessionmaker() as session:
        job = Job(owner_id=session.get(Dataset, dataset["id"]).owner_id, graph=SEED, dataset_id=dataset["id"],
                  mapping={}, config={}, max_attempts=3, state=JobState.RUNNING)
        session.add(job)
        session.commit()
        refused = client_a.delete(f"/api/datasets/{dataset['id']}")
        assert refused.status_code == 409 and job.id in refused.json()["detail"]
        job.state = JobState.SUCCEEDED
        session.commit()
    assert client_a.delete(f"/api/datasets/{dataset['id']}").status_code == 204
    assert client_a.get(f"/api/datasets/{dataset['id']}").status_code == 404
    assert stored_files(data_dir) == []
    with app.state.sessionmaker() as session:
        assert session.get(Job, job.id).dataset_id is None  # the job's record stays


def test_templates_are_the_examples(anon) -> None:
    templates = anon.get("/api/templates").json()
    by_id = {t["id"]: t for t in templates}
    assert {"seed_mlp", "inception_module", "two_head"} <= set(by_id)
    assert by_id["seed_mlp"]["graph"]["nodes"][0]["id"] == "x" and by_id["seed_mlp"]["description"]
