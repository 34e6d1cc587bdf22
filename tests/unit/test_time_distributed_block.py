"""TimeDistributed over a Block (issue 9): the block is applied to every step with one set of
weights. Shapes and counts are the block's, per step; the built module equals the block run on each
step by itself, with the same weights."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import torch

from layerloom.graph import analyze, build_model

CONV_BLOCK = {
    "args": {"f": {"type": "int", "default": 2}},
    "nodes": [{"id": "i", "type": "Input"},
              {"id": "conv", "type": "Conv2D", "params": {"filters": {"arg": "f"}, "kernel_size": 3}},
              {"id": "bn", "type": "BatchNormalization"},
              {"id": "relu", "type": "Activation", "params": {"activation": "relu"}},
              {"id": "gap", "type": "GlobalAveragePooling2D"},
              {"id": "o", "type": "Output"}],
    "edges": [{"source": "i", "target": "conv"}, {"source": "conv", "target": "bn"}, {"source": "bn", "target": "relu"},
              {"source": "relu", "target": "gap"}, {"source": "gap", "target": "o"}],
}


def td_graph(step_shape: list[int], steps: int = 5, block: dict[str, Any] | None = None, f: int = 4) -> dict[str, Any]:
    return {
        "format": "layerloom.graph", "version": 1, "name": "td-block",
        "nodes": [{"id": "x", "type": "Input", "params": {"shape": [steps, *step_shape]}},
                  {"id": "td", "type": "TimeDistributed",
                   "params": {"layer": {"type": "Block", "params": {"block": "cb", "args": {"f": f}}}}},
                  {"id": "y", "type": "Output", "params": {"loss": "mse"}}],
        "edges": [{"source": "x", "target": "td"}, {"source": "td", "target": "y"}],
        "blocks": {"cb": copy.deepcopy(block or CONV_BLOCK)},
    }


def per_step_graph(step_shape: list[int], f: int = 4) -> dict[str, Any]:
    """The same block called once on one step."""
    return {
        "format": "layerloom.graph", "version": 1, "name": "one-step",
        "nodes": [{"id": "x", "type": "Input", "params": {"shape": step_shape}},
                  {"id": "td", "type": "Block", "params": {"block": "cb", "args": {"f": f}}},
                  {"id": "y", "type": "Output", "params": {"loss": "mse"}}],
        "edges": [{"source": "x", "target": "td"}, {"source": "td", "target": "y"}],
        "blocks": {"cb": copy.deepcopy(CONV_BLOCK)},
    }


def test_shapes_and_counts_are_the_blocks_per_step() -> None:
    analysis = analyze(td_graph([3, 8, 8]))
    assert analysis.ok, analysis.errors
    once = analyze(per_step_graph([3, 8, 8]))
    assert once.ok, once.errors
    nodes = analysis.to_json()["nodes"]
    assert nodes["td"]["type"] == "TimeDistributed"
    assert nodes["td"]["output_shape"] == [5, 4]
    assert nodes["td.conv"]["output_shape"] == [4, 6, 6]  # one step's shape inside
    assert (analysis.trainable_params, analysis.non_trainable_params) == (once.trainable_params, once.non_trainable_params)
    assert analysis.total_params == 3 * 3 * 3 * 4 + 4 + 4 * 4


def test_the_module_is_the_block_applied_to_every_step() -> None:
    timed = build_model(analyze(td_graph([3, 8, 8])), seed=0)
    single = build_model(analyze(per_step_graph([3, 8, 8])), seed=1)
    assert set(timed.state_dict()) == set(single.state_dict())  # td.conv.weight, td.bn.running_mean, ...
    assert "td.conv.weight" in timed.state_dict()
    single.load_state_dict(timed.state_dict())
    timed.eval(), single.eval()
    x = torch.randn(2, 5, 3, 8, 8)
    with torch.no_grad():
        out = timed({"x": x})["y"]
        steps = torch.stack([single({"x": x[:, t]})["y"] for t in range(5)], dim=1)
    assert out.shape == (2, 5, 4)
    torch.testing.assert_close(out, steps, rtol=1e-5, atol=1e-6)
    # trains: gradients reach the shared weights
    timed.train()
    timed({"x": x})["y"].sum().backward()
    assert timed.state_dict(keep_vars=True)["td.conv.weight"].grad is not None


def test_a_dense_block_over_a_sequence() -> None:
    block = {"nodes": [{"id": "i", "type": "Input"}, {"id": "d", "type": "Dense", "params": {"units": 6}},
                       {"id": "o", "type": "Output"}],
             "edges": [{"source": "i", "target": "d"}, {"source": "d", "target": "o"}]}
    doc = td_graph([10], steps=7, block=block)
    doc["nodes"][1]["params"]["layer"]["params"].pop("args")
    analysis = analyze(doc)
    assert analysis.ok, analysis.errors
    assert analysis.to_json()["nodes"]["td"]["output_shape"] == [7, 6]
    assert analysis.total_params == 10 * 6 + 6


@pytest.mark.parametrize(("change", "needle"), [
    (lambda d: d["blocks"]["cb"]["nodes"].insert(1, {"id": "j", "type": "Input"}), "has 2 inputs"),
    (lambda d: d["nodes"][0]["params"].update(shape=[8]), "(time, ...)"),
    (lambda d: d["nodes"][1]["params"]["layer"]["params"].update(block="nope"), "no block named 'nope'"),
])
def test_refusals_name_the_node(change, needle: str) -> None:
    doc = td_graph([3, 8, 8])
    change(doc)
    analysis = analyze(doc)
    assert not analysis.ok
    assert any(needle in e.message and e.node == "td" for e in analysis.errors), [e.message for e in analysis.errors]
