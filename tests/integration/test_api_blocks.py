"""The API's view of blocks: validate returns each call's shapes, totals and inner nodes; the
built-in library is served for the palette; graphs with blocks save and their errors name the call."""

from __future__ import annotations

from typing import Any

from layerloom.graph.block_library import block_definition


def resnet_stage() -> dict[str, Any]:
    """Input -> bottleneck (projection) -> bottleneck_identity -> pooled head, from the library."""
    nodes = [
        {"id": "image", "type": "Input", "params": {"shape": [64, 8, 8]}},
        {"id": "stage2_b1", "type": "Block",
         "params": {"block": "bottleneck", "args": {"filters": 64, "out_filters": 256, "strides": 2}}},
        {"id": "stage2_b2", "type": "Block", "params": {"block": "bottleneck_identity",
                                                       "args": {"filters": 64, "out_filters": 256}}},
        {"id": "pool", "type": "GlobalAveragePooling2D", "params": {}},
        {"id": "label", "type": "Output", "params": {"loss": "mse"}},
    ]
    ids = [n["id"] for n in nodes]
    return {"format": "layerloom.graph", "version": 1, "name": "resnet-stage", "nodes": nodes,
            "edges": [{"source": a, "target": b} for a, b in zip(ids, ids[1:])],
            "blocks": {"bottleneck": block_definition("bottleneck"),
                       "bottleneck_identity": block_definition("bottleneck_identity")}}


def test_validate_returns_block_calls_with_shapes_totals_and_inner_nodes(client_a) -> None:
    response = client_a.post("/api/graphs/validate", json=resnet_stage())
    assert response.status_code == 200
    body = response.json()
    assert body["ok"] is True, body["errors"]
    call = body["nodes"]["stage2_b1"]
    assert call["type"] == "Block" and call["block"] == "bottleneck" and call["output_shape"] == [256, 4, 4]
    assert call["params"]["total"] == 76_928 and call["inputs"] == ["image"]
    assert "stage2_b1.conv2" in call["inner"]
    inner = body["nodes"]["stage2_b1.conv2"]
    assert inner["call"] == "stage2_b1" and inner["output_shape"] == [64, 4, 4] and inner["params"]["total"] == 36_928
    assert body["nodes"]["stage2_b2"]["params"]["total"] == 71_552
    rows = body["summary"]["rows"]
    assert [r["node"] for r in rows] == ["image", "stage2_b1", "stage2_b2", "pool", "label"]
    assert rows[1]["block"] == "bottleneck" and len(rows[1]["children"]) == 12
    assert body["totals"]["total"] == 76_928 + 71_552


def test_validate_points_an_error_inside_a_block_at_the_call(client_a) -> None:
    document = resnet_stage()
    document["nodes"][0]["params"]["shape"] = [64]  # the convolutions inside need an image
    body = client_a.post("/api/graphs/validate", json=document).json()
    assert body["ok"] is False
    first = body["errors"][0]
    assert first["node"] == "stage2_b1" and first["path"][0] == "stage2_b1"
    assert first["message"].startswith("stage2_b1 › ")


def test_a_graph_with_blocks_saves_and_reloads(client_a) -> None:
    saved = client_a.post("/api/graphs", json={"document": resnet_stage()})
    assert saved.status_code == 201 and saved.json()["check"]["ok"] is True
    graph_id = saved.json()["graph"]["id"]
    document = client_a.get(f"/api/graphs/{graph_id}").json()["version"]["document"]
    assert set(document["blocks"]) == {"bottleneck", "bottleneck_identity"}


def test_the_block_library_is_served(client_a) -> None:
    response = client_a.get("/api/blocks")
    assert response.status_code == 200
    entries = {e["name"]: e for e in response.json()}
    assert {"residual", "bottleneck", "inception"} <= set(entries)
    bottleneck = entries["bottleneck"]
    assert bottleneck["title"] and bottleneck["description"]
    assert set(bottleneck["block"]["args"]) == {"filters", "out_filters", "strides"}
    assert bottleneck["block"]["nodes"][0]["type"] == "Input"
