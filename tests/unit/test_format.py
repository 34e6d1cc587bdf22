"""The graph format: version handling, and snapshots of the published schemas so that any change
to the format or the catalog is deliberate (update with LAYERLOOM_UPDATE_SNAPSHOTS=1)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from layerloom.graph import CURRENT_VERSION, GraphFormatError, catalog_json, graph_json_schema, upgrade

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def test_current_version_passes_through_unchanged():
    doc = {"format": "layerloom.graph", "version": CURRENT_VERSION, "nodes": []}
    assert upgrade(dict(doc)) == doc


def test_missing_format_and_version_mean_the_current_ones():
    assert upgrade({"nodes": []}) == {"nodes": []}


@pytest.mark.parametrize("version,code", [(0, "version"), (-3, "version"), ("1", "version"), (True, "version"),
                                          (CURRENT_VERSION + 1, "version_unsupported")])
def test_bad_versions_are_refused(version, code):
    with pytest.raises(GraphFormatError) as err:
        upgrade({"version": version, "nodes": []})
    assert err.value.code == code


def test_unknown_top_level_keys_are_kept_for_the_editor():
    from layerloom.graph import Graph

    graph = Graph.model_validate({"nodes": [], "viewport": {"zoom": 2}})
    assert graph.model_dump()["viewport"] == {"zoom": 2}


@pytest.mark.parametrize("name,produce", [("graph_schema.json", graph_json_schema), ("catalog.json", catalog_json)])
def test_published_schema_matches_snapshot(name, produce):
    current = json.loads(json.dumps(produce()))
    path = FIXTURES / name
    if os.environ.get("LAYERLOOM_UPDATE_SNAPSHOTS") == "1":
        path.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
    assert current == json.loads(path.read_text()), (
        f"{name} changed. If the change is deliberate (and, for the graph format, the version or a migration "
        "was added), regenerate with LAYERLOOM_UPDATE_SNAPSHOTS=1 pytest tests/unit/test_format.py"
    )


@pytest.mark.parametrize("text", ["d1\n", "d1\r", " d1", "d1 ", "1d", "d-1", ""])
def test_node_ids_are_matched_as_whole_strings(text: str) -> None:
    from layerloom.graph.format import is_node_id

    assert is_node_id("d1") and not is_node_id(text)


def test_npz_split_suffixes_are_matched_as_whole_names() -> None:
    from layerloom.data.npz_loader import _split_key

    assert _split_key("x_train") == ("x", "train")
    assert _split_key("x_train\n") == ("x_train\n", "train")  # not a "train" split of "x"


@pytest.mark.parametrize("name", ["b1\n", "-b1", "b1 x", "1b"])
def test_block_names_are_matched_as_whole_strings(name: str) -> None:
    from pydantic import TypeAdapter, ValidationError

    from layerloom.graph.format import BlockName

    assert TypeAdapter(BlockName).validate_python("b1") == "b1"
    with pytest.raises(ValidationError):
        TypeAdapter(BlockName).validate_python(name)
