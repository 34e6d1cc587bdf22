"""Blocks: named subgraphs called by Block nodes, expanded by the compiler into ``call.inner`` nodes."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest
import torch

from graph_helpers import efficientnet_b0_with_blocks, random_inputs, real_output_shapes, resnet50_with_blocks
from layerloom.graph import Limits, analyze, build_model, layer_types, render_summary, summary_json
from layerloom.graph.block_library import LIBRARY, block_definition, example_graph, library_issues, library_json


def block(nodes: list[tuple], edges: list[tuple], args: dict[str, Any] | None = None) -> dict[str, Any]:
    """A block definition from (id, type, params) nodes and (source, target[, target_port[, source_port]]) edges."""
    return {"args": args or {},
            "nodes": [{"id": n[0], "type": n[1], "params": n[2] if len(n) > 2 else {}} for n in nodes],
            "edges": [_edge(*e) for e in edges]}


def _edge(source: str, target: str, target_port: int = 0, source_port: int = 0) -> dict[str, Any]:
    return {"source": source, "target": target, "target_port": target_port, "source_port": source_port}


def graph(nodes: list[dict[str, Any]], edges: list[tuple], blocks: dict[str, Any]) -> dict[str, Any]:
    return {"format": "layerloom.graph", "version": 1, "name": "blocks", "nodes": nodes,
            "edges": [_edge(*e) for e in edges], "blocks": blocks}


def call(nid: str, name: str, share: str | None = None, **args: Any) -> dict[str, Any]:
    node: dict[str, Any] = {"id": nid, "type": "Block", "params": {"block": name, "args": args}}
    if share:
        node["share"] = share
    return node


def inp(nid: str, shape: list[int]) -> dict[str, Any]:
    return {"id": nid, "type": "Input", "params": {"shape": shape}}


def out(nid: str = "y") -> dict[str, Any]:
    return {"id": nid, "type": "Output", "params": {"loss": "mse"}}


# conv -> bn -> relu on images, with the filter count as an argument.
CONV_BN = block(
    [("x", "Input"), ("conv1", "Conv2D", {"filters": {"arg": "filters"}, "kernel_size": 3, "padding": "same",
                                          "strides": {"arg": "strides"}}),
     ("bn", "BatchNormalization"), ("relu", "Activation", {"activation": "relu"}), ("y", "Output")],
    [("x", "conv1"), ("conv1", "bn"), ("bn", "relu"), ("relu", "y")],
    args={"filters": {"type": "int"}, "strides": {"type": "int", "default": 1}},
)


def chain_of_calls(n: int, share_last: bool = False) -> dict[str, Any]:
    calls = [call(f"stage2_b{i + 1}", "conv_bn", filters=8) for i in range(n)]
    if share_last:
        calls[-1] = call(f"stage2_b{n}", "conv_bn", share="stage2_b1")
    ids = ["x", *[c["id"] for c in calls], "y"]
    return graph([inp("x", [8, 6, 6]), *calls, out()], list(zip(ids, ids[1:])), {"conv_bn": CONV_BN})


def conv_bn_count(c_in: int, filters: int) -> tuple[int, int]:
    """(trainable, non-trainable) weights of one conv_bn call, as Keras counts them."""
    return 9 * c_in * filters + filters + 2 * filters, 2 * filters


# ---- weights, sharing, keys ---------------------------------------------------------------------


def test_a_block_called_three_times_has_three_times_its_weights() -> None:
    once, thrice = analyze(chain_of_calls(1)), analyze(chain_of_calls(3))
    assert once.ok and thrice.ok, thrice.errors
    assert (once.trainable_params, once.non_trainable_params) == conv_bn_count(8, 8)
    assert thrice.total_params == 3 * once.total_params
    model = build_model(thrice, seed=0)
    assert sum(p.numel() for p in model.parameters()) == 3 * once.trainable_params


def test_state_dict_keys_read_call_dot_inner() -> None:
    model = build_model(analyze(chain_of_calls(2)), seed=0)
    keys = set(model.state_dict())
    assert {"stage2_b1.conv1.weight", "stage2_b1.conv1.bias", "stage2_b1.bn.running_mean",
            "stage2_b2.conv1.weight"} <= keys
    assert all(k.split(".")[0] in ("stage2_b1", "stage2_b2") for k in keys)
    # The generated forward stays readable: one line per inner call, named after it.
    assert "self.stage2_b1.conv1(" in model.code and "stage2_b2_relu = " in model.code


def test_share_ties_a_calls_weights_to_its_owner() -> None:
    separate, shared = analyze(chain_of_calls(2)), analyze(chain_of_calls(2, share_last=True))
    assert shared.ok, shared.errors
    assert shared.total_params == separate.total_params // 2
    assert shared.calls["stage2_b2"].share == "stage2_b1"
    model = build_model(shared, seed=0)
    assert not any(k.startswith("stage2_b2.") for k in model.state_dict())
    assert "self.stage2_b1.conv1(stage2_b1_relu)" in model.code  # the second call runs the first's conv
    with torch.no_grad():
        model.stage2_b1.conv1.weight.add_(1.0)  # one tensor: changing it changes both calls
    assert model.stage2_b1.conv1.weight is model.get_submodule("stage2_b1.conv1").weight


def test_a_shared_call_takes_its_owners_args_and_refuses_different_ones() -> None:
    doc = chain_of_calls(2, share_last=True)
    doc["nodes"][2]["params"]["args"] = {"filters": 4}
    issues = analyze(doc).errors
    assert [(i.code, i.node, i.field) for i in issues] == [("share_params", "stage2_b2", "params.args")]
    doc["nodes"][2]["share"] = "x"
    assert analyze(doc).errors[0].code == "share_type"


# ---- arguments and shapes -----------------------------------------------------------------------


@pytest.mark.parametrize("filters, strides, shape", [(4, 1, (4, 6, 6)), (16, 2, (16, 3, 3)), (3, 3, (3, 2, 2))])
def test_block_arguments_set_inner_params(filters: int, strides: int, shape: tuple[int, ...]) -> None:
    doc = graph([inp("x", [8, 6, 6]), call("c", "conv_bn", filters=filters, strides=strides), out()],
                [("x", "c"), ("c", "y")], {"conv_bn": CONV_BN})
    analysis = analyze(doc)
    assert analysis.ok, analysis.errors
    assert analysis.nodes["y"].output.shape == shape
    assert (analysis.trainable_params, analysis.non_trainable_params) == conv_bn_count(8, filters)
    assert analysis.nodes["c.conv1"].params.strides == strides
    assert analysis.calls["c"].args == {"filters": filters, "strides": strides}


def test_argument_defaults_and_float_args_accept_ints() -> None:
    drop = block([("x", "Input"), ("d", "Dropout", {"rate": {"arg": "rate"}}), ("y", "Output")],
                 [("x", "d"), ("d", "y")], args={"rate": {"type": "float", "default": 0.25}})
    doc = graph([inp("x", [4]), call("a", "drop"), call("b", "drop", rate=0), out()],
                [("x", "a"), ("a", "b"), ("b", "y")], {"drop": drop})
    analysis = analyze(doc)
    assert analysis.ok, analysis.errors
    assert analysis.nodes["a.d"].params.rate == 0.25 and analysis.nodes["b.d"].params.rate == 0.0


@pytest.mark.parametrize("args, code, field, words", [
    ({"filters": 8, "filterz": 8}, "unknown_arg", "params.args.filterz", ["stage2_b1", "'filterz'", "filters, strides"]),
    ({}, "missing_arg", "params.args.filters", ["stage2_b1", "'filters'"]),
    ({"filters": 2.5}, "bad_arg", "params.args.filters", ["stage2_b1", "'filters'", "integer"]),
    ({"filters": True}, "bad_arg", "params.args.filters", ["stage2_b1", "integer"]),
    ({"filters": "8"}, "bad_arg", "params.args.filters", ["stage2_b1", "integer"]),
])
def test_bad_call_arguments_name_the_call_and_the_argument(args, code, field, words) -> None:
    doc = graph([inp("x", [8, 6, 6]), call("stage2_b1", "conv_bn", **args), out()],
                [("x", "stage2_b1"), ("stage2_b1", "y")], {"conv_bn": CONV_BN})
    errors = analyze(doc).errors
    assert [(e.code, e.node, e.field) for e in errors] == [(code, "stage2_b1", field)]
    assert all(w in errors[0].message for w in words), errors[0].message


def test_an_undeclared_argument_inside_a_block_names_the_call_the_node_and_the_argument() -> None:
    bad = copy.deepcopy(CONV_BN)
    bad["nodes"][1]["params"]["filters"] = {"arg": "width"}
    doc = graph([inp("x", [8, 6, 6]), call("stage2_b1", "conv_bn", filters=8), out()],
                [("x", "stage2_b1"), ("stage2_b1", "y")], {"conv_bn": bad})
    errors = analyze(doc).errors
    assert len(errors) == 1, errors  # no second, vaguer error about the same param
    assert errors[0].code == "unknown_arg" and errors[0].path == ["stage2_b1", "conv1"]
    assert errors[0].message.startswith("stage2_b1 › conv1:") and "'width'" in errors[0].message


def test_an_argument_default_must_have_its_type() -> None:
    bad = copy.deepcopy(CONV_BN)
    bad["args"]["strides"]["default"] = "two"
    doc = graph([inp("x", [8, 6, 6]), call("c", "conv_bn", filters=8), out()], [("x", "c"), ("c", "y")],
                {"conv_bn": bad})
    errors = analyze(doc).errors
    assert errors and errors[0].code == "schema" and "blocks.conv_bn.args.strides" in errors[0].field


def test_shapeless_block_inputs_take_each_calls_shape() -> None:
    doc = graph([inp("a", [8, 6, 6]), inp("b", [3, 10, 4]), call("ca", "conv_bn", filters=5),
                 call("cb", "conv_bn", filters=5), out("ya"), out("yb")],
                [("a", "ca"), ("b", "cb"), ("ca", "ya"), ("cb", "yb")], {"conv_bn": CONV_BN})
    analysis = analyze(doc)
    assert analysis.ok, analysis.errors
    assert analysis.nodes["ca.x"].output.shape == (8, 6, 6) and analysis.nodes["cb.x"].output.shape == (3, 10, 4)
    assert analysis.nodes["ya"].output.shape == (5, 6, 6) and analysis.nodes["yb"].output.shape == (5, 10, 4)
    assert analysis.nodes["ca.conv1"].weights[0].shape == (5, 8, 3, 3)
    assert analysis.nodes["cb.conv1"].weights[0].shape == (5, 3, 3, 3)
    assert analysis.input_ids == ["a", "b"] and analysis.output_ids == ["ya", "yb"]  # ports are neither


def test_a_declared_block_input_shape_is_checked_against_the_call() -> None:
    typed = copy.deepcopy(CONV_BN)
    typed["nodes"][0]["params"] = {"shape": [8, 6, 6]}
    doc = graph([inp("a", [8, 6, 6]), inp("b", [3, 6, 6]), call("ca", "conv_bn", filters=2),
                 call("cb", "conv_bn", filters=2), out("ya"), out("yb")],
                [("a", "ca"), ("b", "cb"), ("ca", "ya"), ("cb", "yb")], {"conv_bn": typed})
    errors = analyze(doc).errors
    assert [(e.node, e.path) for e in errors] == [("cb", ["cb", "x"])]
    assert errors[0].message.startswith("cb › x:") and "(8, 6, 6)" in errors[0].message


def test_a_block_with_two_outputs_feeds_consumers_by_source_port() -> None:
    split = block([("x", "Input"), ("wide", "Dense", {"units": 7}), ("narrow", "Dense", {"units": 2}),
                   ("w", "Output"), ("n", "Output")],
                  [("x", "wide"), ("x", "narrow"), ("wide", "w"), ("narrow", "n")])
    doc = graph([inp("x", [4]), call("s", "split"), out("y1"), out("y2")],
                [("x", "s"), ("s", "y1", 0, 1), ("s", "y2", 0, 0)], {"split": split})
    analysis = analyze(doc)
    assert analysis.ok, analysis.errors
    assert analysis.nodes["y1"].output.shape == (2,) and analysis.nodes["y2"].output.shape == (7,)
    assert analysis.to_json()["nodes"]["s"]["output_shapes"] == [[7], [2]]
    doc["edges"][1]["source_port"] = 2
    errors = analyze(doc).errors
    assert errors[0].code == "port_out_of_range" and errors[0].edge == 1 and "0..1" in errors[0].message


def test_an_output_inside_a_block_is_a_port_not_a_head() -> None:
    with_loss = copy.deepcopy(CONV_BN)
    with_loss["nodes"][-1]["params"] = {"loss": "mse", "loss_weight": 3.0}
    analysis = analyze(graph([inp("x", [8, 6, 6]), call("c", "conv_bn", filters=2), out()],
                             [("x", "c"), ("c", "y")], {"conv_bn": with_loss}))
    assert analysis.ok and analysis.output_ids == ["y"]
    assert [h.id for h in build_model(analysis).heads] == ["y"]


def test_call_ports_must_be_fed_once() -> None:
    pair = block([("a", "Input"), ("b", "Input"), ("add", "Add"), ("y", "Output")],
                 [("a", "add"), ("b", "add", 1), ("add", "y")])
    doc = graph([inp("x", [4]), call("p", "pair"), out()], [("x", "p"), ("p", "y")], {"pair": pair})
    errors = analyze(doc).errors
    assert [(e.code, e.node) for e in errors] == [("port_unfed", "p")]
    assert "input port 1 ('b')" in errors[0].message
    doc["edges"].append(_edge("x", "p", 1))
    assert analyze(doc).ok
    doc["edges"].append(_edge("x", "p", 1))
    assert [e.code for e in analyze(doc).errors] == ["port_fed_twice"]
    doc["edges"][-1]["target_port"] = 5
    errors = analyze(doc).errors
    assert [(e.code, e.edge) for e in errors] == [("port_out_of_range", 3)]


# ---- nesting, recursion, limits -----------------------------------------------------------------


def nested_doc() -> dict[str, Any]:
    stage = block([("x", "Input"), ("b1", "Block", {"block": "conv_bn", "args": {"filters": {"arg": "width"}, "strides": 2}}),
                   ("b2", "Block", {"block": "conv_bn", "args": {"filters": {"arg": "width"}}}), ("y", "Output")],
                  [("x", "b1"), ("b1", "b2"), ("b2", "y")], args={"width": {"type": "int"}})
    return graph([inp("x", [3, 8, 8]), call("s1", "stage", width=4), call("s2", "stage", width=6), out()],
                 [("x", "s1"), ("s1", "s2"), ("s2", "y")], {"conv_bn": CONV_BN, "stage": stage})


def test_blocks_call_blocks() -> None:
    analysis = analyze(nested_doc())
    assert analysis.ok, analysis.errors
    assert analysis.nodes["y"].output.shape == (6, 2, 2)
    expected = [conv_bn_count(3, 4), conv_bn_count(4, 4), conv_bn_count(4, 6), conv_bn_count(6, 6)]
    assert analysis.total_params == sum(t + n for t, n in expected)
    assert set(analysis.calls) == {"s1", "s1.b1", "s1.b2", "s2", "s2.b1", "s2.b2"}
    assert analysis.calls["s2.b1"].parent == "s2" and analysis.calls["s2"].members == ["s2.x", "s2.b1", "s2.b2", "s2.y"]
    model = build_model(analysis, seed=0)
    assert "s2.b2.conv1.weight" in model.state_dict()
    assert model(random_inputs(analysis, batch=2))["y"].shape == (2, 6, 2, 2)


def test_a_nested_call_inside_a_shared_call_shares_too() -> None:
    doc = nested_doc()
    doc["nodes"][2] = call("s2", "stage", share="s1")
    doc["nodes"][0]["params"]["shape"] = [4, 8, 8]  # s2 then gets s1's input width
    doc["nodes"].insert(1, inp("x2", [4, 8, 8]))
    doc["edges"] = [_edge("x", "s1"), _edge("x2", "s2"), _edge("s1", "y"), _edge("s2", "y2")]
    doc["nodes"].append(out("y2"))
    analysis = analyze(doc)
    assert analysis.ok, analysis.errors
    assert analysis.nodes["s2.b1.conv1"].share == "s1.b1.conv1"
    model = build_model(analysis, seed=0)
    x = torch.randn(2, 4, 8, 8)
    model.eval()
    result = model({"x": x, "x2": x})
    assert torch.equal(result["y"], result["y2"])  # same weights, same input: same output


@pytest.mark.parametrize("blocks, chain", [
    ({"a": ["a"]}, "a › a"),
    ({"a": ["b"], "b": ["a"]}, "a › b › a"),
    ({"a": ["b"], "b": ["c"], "c": ["b"]}, "b › c › b"),
])
def test_a_recursive_block_is_refused_naming_the_chain(blocks: dict[str, list[str]], chain: str) -> None:
    defs = {}
    for name, callees in blocks.items():
        nodes = [("x", "Input"), *[(f"{c}_call", "Block", {"block": c}) for c in callees], ("y", "Output")]
        ids = [n[0] for n in nodes]
        defs[name] = block(nodes, list(zip(ids, ids[1:])))
    doc = graph([inp("x", [4]), call("top", "a"), out()], [("x", "top"), ("top", "y")], defs)
    errors = analyze(doc).errors
    assert [(e.code, e.node) for e in errors] == [("block_recursion", "top")], errors
    assert chain in errors[0].message


def test_blocks_nest_only_as_deep_as_the_limit() -> None:
    defs = {}
    for level in range(5):
        nodes = [("x", "Input"), ("inner", "Block", {"block": f"level{level + 1}"}) if level < 4 else
                 ("d", "Dense", {"units": 2}), ("y", "Output")]
        defs[f"level{level}"] = block(nodes, [("x", nodes[1][0]), (nodes[1][0], "y")])
    doc = graph([inp("x", [4]), call("top", "level0"), out()], [("x", "top"), ("top", "y")], defs)
    assert analyze(doc, Limits(10**6, 1000, 1000, 10**6, max_block_depth=5)).ok
    errors = analyze(doc, Limits(10**6, 1000, 1000, 10**6, max_block_depth=4)).errors
    assert [(e.code, e.node) for e in errors] == [("too_deep", "top")]
    assert errors[0].path == ["top", "inner", "inner", "inner", "inner"]


def test_expanded_nodes_count_against_the_node_limit() -> None:
    doc = chain_of_calls(10)  # 10 calls x 5 inner nodes + 2
    assert analyze(doc, Limits(10**6, 52, 1000, 10**6)).ok
    errors = analyze(doc, Limits(10**6, 51, 1000, 10**6)).errors
    assert [e.code for e in errors] == ["too_large"] and "max_graph_nodes" in errors[0].message


# ---- errors inside a block ----------------------------------------------------------------------


def test_an_error_inside_a_block_points_at_call_and_inner_node() -> None:
    doc = chain_of_calls(3)
    doc["nodes"][0]["params"]["shape"] = [8]  # Conv2D needs an image
    errors = analyze(doc).errors
    assert len(errors) == 1, errors
    error = errors[0]
    assert error.node == "stage2_b1" and error.path == ["stage2_b1", "conv1"] and error.field == "inputs"
    assert error.message.startswith("stage2_b1 › conv1: ") and "Conv2D" in error.message
    assert error.to_json()["path"] == ["stage2_b1", "conv1"]


def test_a_bad_param_inside_a_block_depends_on_the_call() -> None:
    doc = chain_of_calls(2)
    doc["nodes"][2]["params"]["args"]["filters"] = 0  # only the second call passes a bad width
    errors = analyze(doc).errors
    assert [(e.code, e.node, e.path, e.field) for e in errors] == [
        ("bad_param", "stage2_b2", ["stage2_b2", "conv1"], "params.filters")]


def test_structural_errors_inside_a_block_name_the_call() -> None:
    broken = copy.deepcopy(CONV_BN)
    broken["edges"].append({"source": "ghost", "target": "bn"})
    broken["nodes"].append({"id": "bad-id", "type": "Dense", "params": {"units": 1}})
    broken["nodes"].append({"id": "typo", "type": "Dence", "params": {}})
    doc = graph([inp("x", [8, 6, 6]), call("c", "conv_bn", filters=2), out()], [("x", "c"), ("c", "y")],
                {"conv_bn": broken})
    errors = {e.code: e for e in analyze(doc).errors}
    assert errors["dangling_edge"].message.startswith("c › edge 4:") and errors["dangling_edge"].edge is None
    assert errors["dangling_edge"].node == "c" and "c › ghost" in errors["dangling_edge"].message
    assert errors["bad_id"].path == ["c", "bad-id"] and "'bad-id'" in errors["bad_id"].message
    assert errors["unknown_type"].message.startswith("c › typo:") and "Dense" in errors["unknown_type"].message


def test_unknown_block_and_bad_call_params() -> None:
    doc = graph([inp("x", [8, 6, 6]), call("c", "conv_bm", filters=2), out()], [("x", "c"), ("c", "y")],
                {"conv_bn": CONV_BN})
    errors = analyze(doc).errors
    assert [(e.code, e.node, e.field) for e in errors] == [("unknown_block", "c", "params.block")]
    assert "'conv_bn'" in errors[0].message  # the close match
    doc["nodes"][1]["params"] = {"blok": "conv_bn"}
    assert {(e.code, e.field) for e in analyze(doc).errors} == {("bad_param", "params.block"), ("bad_param", "params.blok")}


def test_a_block_needs_ports() -> None:
    portless = block([("x", "Input"), ("d", "Dense", {"units": 2})], [("x", "d")])
    doc = graph([inp("x", [4]), call("c", "portless"), out()], [("x", "c"), ("c", "y")], {"portless": portless})
    assert [(e.code, e.node) for e in analyze(doc).errors] == [("block_ports", "c")]


# ---- summary and API data ------------------------------------------------------------------------


def test_summary_has_one_row_per_call_and_expands_like_keras() -> None:
    analysis = analyze(nested_doc())
    summary = summary_json(analysis)
    rows = summary["rows"]
    assert [(r["node"], r["type"], r["block"]) for r in rows] == [
        ("x", "Input", None), ("s1", "Block", "stage"), ("s2", "Block", "stage"), ("y", "Output", None)]
    s2 = rows[2]
    assert s2["params"] == sum(conv_bn_count(4, 6)) + sum(conv_bn_count(6, 6)) and s2["connected_to"] == ["s1"]
    assert s2["output_shape"] == "(6, 2, 2)"
    assert [c["node"] for c in s2["children"]] == ["s2.b1", "s2.b2"]
    assert [c["node"] for c in s2["children"][0]["children"]] == ["s2.b1.conv1", "s2.b1.bn", "s2.b1.relu"]
    assert s2["children"][0]["children"][0]["connected_to"] == ["s1"]  # what really feeds the port
    assert sum(r["params"] for r in rows) == summary["total"]
    assert sum(c["params"] for c in s2["children"]) == s2["params"]

    collapsed, expanded = render_summary(analysis), render_summary(analysis, expand_nested=True)
    assert re.search(r"^s2 \(Block stage\)\s+\(None, 6, 2, 2\)\s+" + f"{s2['params']:,}", collapsed, re.M)
    assert "conv1" not in collapsed
    assert re.search(r"^    conv1 \(Conv2D\)\s+\(None, 6, 2, 2\)", expanded, re.M)  # depth 2, indented
    assert expanded.count("\n") > collapsed.count("\n") + 10


def test_analysis_json_describes_calls_and_inner_nodes() -> None:
    nodes = analyze(nested_doc()).to_json()["nodes"]
    s1 = nodes["s1"]
    assert s1["type"] == "Block" and s1["block"] == "stage" and s1["args"] == {"width": 4}
    assert s1["output_shape"] == [4, 4, 4] and s1["inputs"] == ["x"]
    assert s1["params"]["total"] == sum(conv_bn_count(3, 4)) + sum(conv_bn_count(4, 4))
    assert s1["inner"] == ["s1.x", "s1.b1", "s1.b2", "s1.y"] and s1["call"] is None
    assert nodes["s1.b1"]["call"] == "s1" and nodes["s1.b1.conv1"]["call"] == "s1.b1"
    assert nodes["s1.b1.conv1"]["output_shape"] == [4, 4, 4]
    assert nodes["s1.x"]["port"] == 0 and nodes["s1.x"]["output_shape"] == [3, 8, 8]


# ---- the expansion computes what an inlined graph computes --------------------------------------


def test_a_block_call_computes_what_the_same_layers_inlined_compute() -> None:
    analysis = analyze(nested_doc())
    inlined_nodes, inlined_edges = [inp("x", [3, 8, 8])], []
    previous = "x"
    for stage, width in (("s1", 4), ("s2", 6)):
        for b, strides in (("b1", 2), ("b2", 1)):
            prefix = f"{stage}_{b}_"
            inlined_nodes += [
                {"id": prefix + "conv1", "type": "Conv2D", "params": {"filters": width, "kernel_size": 3,
                                                                      "padding": "same", "strides": strides}},
                {"id": prefix + "bn", "type": "BatchNormalization", "params": {}},
                {"id": prefix + "relu", "type": "Activation", "params": {"activation": "relu"}}]
            for layer in ("conv1", "bn", "relu"):
                inlined_edges.append((previous, prefix + layer))
                previous = prefix + layer
    inlined_edges.append((previous, "y"))
    flat = analyze(graph([*inlined_nodes, out()], inlined_edges, {}))
    assert flat.ok and flat.total_params == analysis.total_params
    blocked_model, flat_model = build_model(analysis, seed=0), build_model(flat, seed=1)
    flat_model.load_state_dict({k.replace(".", "_", 2): v for k, v in blocked_model.state_dict().items()})
    blocked_model.eval(), flat_model.eval()
    x = {"x": torch.randn(3, 3, 8, 8)}
    assert torch.equal(blocked_model(x)["y"], flat_model(x)["y"])
    shapes = real_output_shapes(blocked_model, analysis, x)
    assert all(shapes[nid] == info.output.shape for nid, info in analysis.nodes.items())


# ---- the built-in library -----------------------------------------------------------------------


def test_the_library_offers_the_blocks_that_work_with_todays_layers() -> None:
    offered = {entry["name"] for entry in library_json()}
    assert {"residual", "bottleneck", "bottleneck_identity", "inception", "squeeze_excitation"} <= offered
    for name in LIBRARY:  # a block is hidden only while a layer it needs is missing, never because it is broken
        missing = {n["type"] for n in block_definition(name)["nodes"]} - set(layer_types())
        assert (name in offered) == (not missing), (name, missing, library_issues(name))
    for entry in library_json():
        analysis = analyze(example_graph(entry["name"]))
        assert analysis.ok and analysis.total_params > 0
        model = build_model(analysis, seed=0)
        assert sum(p.numel() for p in model.parameters()) == analysis.trainable_params


@pytest.mark.parametrize("name, total", [
    ("bottleneck", 76_928),  # ResNet50's conv2_block1 in keras.applications
    ("bottleneck_identity", 71_552),  # conv2_block2
    ("residual", 2 * (9 * 16 * 16 + 16) + 2 * 4 * 16),
    ("inception", 163_696),  # GoogLeNet's inception (3a) on 192 channels
    ("squeeze_excitation", (32 * 8 + 8) + (8 * 32 + 32)),
])
def test_library_blocks_have_the_reference_parameter_counts(name: str, total: int) -> None:
    assert analyze(example_graph(name)).total_params == total


def test_layerloom_check_expand_prints_the_inner_rows(tmp_path, capsys) -> None:
    from layerloom.cli import main

    path = tmp_path / "nested.json"
    path.write_text(json.dumps(nested_doc()), encoding="utf-8")
    assert main(["check", str(path)]) == 0
    collapsed = capsys.readouterr().out
    assert main(["check", "--expand", str(path)]) == 0
    expanded = capsys.readouterr().out
    assert "s1 (Block stage)" in collapsed and "conv1 (Conv2D)" not in collapsed
    assert "  b1 (Block conv_bn)" in expanded and "    conv1 (Conv2D)" in expanded


def test_an_unused_output_port_is_one_warning() -> None:
    split = block([("x", "Input"), ("wide", "Dense", {"units": 7}), ("narrow", "Dense", {"units": 2}),
                   ("narrower", "Dense", {"units": 1}), ("w", "Output"), ("n", "Output")],
                  [("x", "wide"), ("x", "narrow"), ("narrow", "narrower"), ("wide", "w"), ("narrower", "n")])
    doc = graph([inp("x", [4]), call("s", "split"), out()], [("x", "s"), ("s", "y")], {"split": split})
    analysis = analyze(doc)
    assert analysis.ok
    assert [(w.code, w.node, w.path) for w in analysis.warnings] == [("unreachable", "s", ["s", "n"])]
    assert analysis.warnings[0].message.startswith("s › n: output port 1 ('n') of block 'split' is not used")


def test_efficientnet_b0_from_the_mbconv_blocks_has_keras_counts() -> None:
    """keras.applications.EfficientNetB0(weights=None): 5,330,571 parameters, 42,023 non-trainable."""
    analysis = analyze(efficientnet_b0_with_blocks())
    assert analysis.ok, analysis.errors
    assert (analysis.total_params, analysis.non_trainable_params) == (5_330_571, 42_023)
    assert len(analysis.calls) == 16 and analysis.nodes["predictions"].output.shape == (1000,)


def test_resnet50_from_two_library_blocks_has_keras_counts() -> None:
    """keras.applications.ResNet50(weights=None): 25,636,712 parameters, 53,120 of them non-trainable
    (tests/unit/test_block_library_keras.py checks it against Keras itself)."""
    analysis = analyze(resnet50_with_blocks())
    assert analysis.ok, analysis.errors
    assert (analysis.total_params, analysis.non_trainable_params) == (25_636_712, 53_120)
    assert analysis.nodes["conv5_block3.out_relu"].output.shape == (2048, 7, 7)
    assert len(summary_json(analysis)["rows"]) == 7 + 16 + 3


def test_a_mistake_in_a_block_definition_is_reported_once_for_all_its_calls() -> None:
    broken = copy.deepcopy(CONV_BN)
    broken["nodes"][2]["params"] = {"momentum": 7}  # out of range whatever the call
    doc = graph([inp("x", [8, 6, 6]), *[call(f"b{i}", "conv_bn", filters=8) for i in range(8)], out()],
                [("x", "b0"), *[(f"b{i}", f"b{i + 1}") for i in range(7)], ("b7", "y")], {"conv_bn": broken})
    errors = analyze(doc).errors
    assert len(errors) == 1, errors
    assert errors[0].path == ["b0", "bn"] and errors[0].nodes == [f"b{i}" for i in range(8)]
    assert errors[0].message.startswith("b0 › bn:") and "(the same in b1, b2, b3, b4, b5 and 2 more)" in errors[0].message


def test_calls_inside_a_block_can_share_with_each_other() -> None:
    twice = block([("x", "Input"), ("first", "Block", {"block": "conv_bn", "args": {"filters": 8}}),
                   ("second", "Block", {"block": "conv_bn"}), ("y", "Output")],
                  [("x", "first"), ("first", "second"), ("second", "y")])
    twice["nodes"][2]["share"] = "first"
    doc = graph([inp("x", [8, 6, 6]), call("t1", "twice"), call("t2", "twice"), out()],
                [("x", "t1"), ("t1", "t2"), ("t2", "y")], {"conv_bn": CONV_BN, "twice": twice})
    analysis = analyze(doc)
    assert analysis.ok, analysis.errors
    assert analysis.total_params == 2 * sum(conv_bn_count(8, 8))  # one conv_bn's weights per twice-call
    assert analysis.calls["t2.second"].share == "t2.first" and analysis.nodes["t2.second.conv1"].share == "t2.first.conv1"
    keys = set(build_model(analysis).state_dict())
    assert "t2.first.conv1.weight" in keys and not any(k.startswith("t2.second.") for k in keys)


def test_summary_json_rows_carry_every_field() -> None:
    from dataclasses import asdict

    from layerloom.graph.summary import summary_rows

    analysis = analyze(nested_doc())
    assert summary_json(analysis)["rows"] == [asdict(r) for r in summary_rows(analysis)]


def test_edges_inside_a_block_cannot_feed_its_input_ports_or_leave_its_output_ports() -> None:
    wrong = copy.deepcopy(CONV_BN)
    wrong["edges"].append({"source": "relu", "target": "x"})
    doc = graph([inp("x", [8, 6, 6]), call("c", "conv_bn", filters=2), out()], [("x", "c"), ("c", "y")],
                {"conv_bn": wrong})
    errors = analyze(doc).errors
    assert [(e.code, e.node, e.path, e.field) for e in errors] == [("port_out_of_range", "c", ["c"], "target")]
    assert errors[0].message.startswith("c › edge 4: x is an input port of block 'conv_bn'")
    wrong["edges"][-1] = {"source": "y", "target": "bn"}
    errors = analyze(doc).errors
    assert errors[0].code == "port_out_of_range" and "y is an output port" in errors[0].message


def test_blocks_that_double_at_every_level_stop_at_the_node_limit_quickly() -> None:
    import time

    defs = {}
    for level in range(15):
        inner = [("x", "Input"), ("a", "Block", {"block": f"l{level + 1}"}), ("b", "Block", {"block": f"l{level + 1}"}),
                 ("add", "Add"), ("y", "Output")] if level < 14 else [("x", "Input"), ("d", "Dense", {"units": 2}), ("y", "Output")]
        edges = [("x", "a"), ("x", "b"), ("a", "add"), ("b", "add", 1), ("add", "y")] if level < 14 else [("x", "d"), ("d", "y")]
        defs[f"l{level}"] = block(inner, edges)
    doc = graph([inp("x", [2]), call("top", "l0"), out()], [("x", "top"), ("top", "y")], defs)
    doc["blocks"]["l3"]["nodes"][1]["params"]["deep"] = [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]
    start = time.perf_counter()
    errors = analyze(doc).errors  # 2**14 calls would be 100,000 nodes
    assert [e.code for e in errors] == ["too_large"] and time.perf_counter() - start < 2


def test_a_sharing_call_may_leave_out_its_params() -> None:
    doc = chain_of_calls(3, share_last=True)
    doc["nodes"][3].pop("params")  # {"id": "stage2_b3", "type": "Block", "share": "stage2_b1"}
    analysis = analyze(doc)
    assert analysis.ok, analysis.errors
    assert analysis.calls["stage2_b3"].block == "conv_bn" and analysis.calls["stage2_b3"].share == "stage2_b1"
    assert analysis.total_params == 2 * sum(conv_bn_count(8, 8))


def test_every_block_issue_code_is_documented() -> None:
    from pathlib import Path

    source = (Path(__file__).parents[2] / "backend" / "layerloom" / "graph" / "blocks.py").read_text(encoding="utf-8")
    codes = set(re.findall(r'self\.report\("([a-z_]+)"', source)) | {"port_out_of_range", "too_large"}
    docs = (Path(__file__).parents[2] / "docs" / "graph-format.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([a-z_]+)`", "\n".join(l for l in docs.splitlines() if l.startswith("| `"))))
    assert {"unknown_block", "block_recursion", "too_deep"} <= codes
    assert codes <= documented, codes - documented
