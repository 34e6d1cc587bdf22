"""Regression tests for the holes an attack and a chaos test found (issue 13), each reproducing
the original failure, on SQLite and PostgreSQL where the fixtures parametrize."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from layerloom.store.models import Job

SEED = json.loads((Path(__file__).parents[2] / "examples" / "seed_mlp.json").read_text())


def codes(response) -> set[str]:
    return {e["code"] for e in response.json()["errors"]}


def job_count(app: FastAPI) -> int:
    with app.state.sessionmaker() as session:
        return session.scalar(select(func.count()).select_from(Job)) or 0


@pytest.fixture
def dispatched(app: FastAPI) -> list[tuple[str, str]]:
    """Record dispatches instead of sending them (no worker runs in these tests)."""
    sent: list[tuple[str, str]] = []
    app.state.dispatch = lambda job_id, token: sent.append((job_id, token))
    return sent


def submit(client, graph: dict[str, Any] | None = None, **body: Any):
    return client.post("/api/jobs", json={"graph": graph or SEED, "dataset": "random_classification", **body})


# ---- 3: identifiers are matched as whole strings ------------------------------------------


def test_a_node_id_with_a_trailing_newline_is_a_bad_id(app, client_a, dispatched) -> None:
    graph = copy.deepcopy(SEED)
    graph["nodes"][1]["id"] = "d1\n"
    for edge in graph["edges"]:
        for end in ("source", "target"):
            if edge[end] == "d1":
                edge[end] = "d1\n"
    checked = client_a.post("/api/graphs/validate", json=graph).json()
    assert not checked["ok"] and {"bad_id"} == {e["code"] for e in checked["errors"] if e.get("node") == "d1\n"}
    response = submit(client_a, graph)
    assert response.status_code == 422 and "bad_id" in codes(response)
    assert job_count(app) == 0 and dispatched == []
