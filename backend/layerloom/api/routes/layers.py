"""The layer catalog and the document schema: what the editor's palette and inspector are built from."""

from __future__ import annotations

from functools import cache
from typing import Any

from ...graph import catalog_json, graph_json_schema
from ..routing import make_router

router = make_router("layers", errors=())


@cache
def _catalog() -> list[dict[str, Any]]:
    return catalog_json()  # fixed for the life of the process, and ~40 ms to build


@router.get("/layers")
def list_layers() -> list[dict[str, Any]]:
    """Every layer type: category, docs, parameters as JSON Schema, input and output ports."""
    return _catalog()


@router.get("/graph-schema")
def get_graph_schema() -> dict[str, Any]:
    """JSON Schema of the graph document envelope (node parameters are in ``/api/layers``)."""
    return graph_json_schema()
