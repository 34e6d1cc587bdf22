"""The layer catalog, the document schema and the template gallery: what the editor's palette,
inspector and "new from template" are built from."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from ...settings import REPO_ROOT

from ...graph import catalog_json, graph_json_schema
from ...graph.block_library import library_json
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


@router.get("/blocks")
def list_blocks() -> list[dict[str, Any]]:
    """The built-in block library for the palette's "Blocks" section: ``[{name, title, description,
    block, example}]``, where ``block`` is a definition to copy into the document's ``blocks``. Only
    entries whose layers exist here are listed."""
    return library_json()


EXAMPLES_DIR = REPO_ROOT / "examples"


@cache
def _templates() -> list[dict[str, Any]]:
    out = []
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        graph = json.loads(path.read_text(encoding="utf-8"))
        out.append({"id": path.stem, "name": graph.get("name", path.stem), "description": graph.get("description", ""),
                    "graph": graph})
    return out


@router.get("/templates")
def list_templates() -> list[dict[str, Any]]:
    """The template gallery: the model zoo in examples/ (``[{id, name, description, graph}]``)."""
    return _templates()
