"""A corpus of broken graphs: each gets its specific error code, pointed at the right node / field / edge,
with a message that says what to change; nothing escapes as an exception."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest

from graph_helpers import chain
from layerloom.graph import CompileError, analyze, build_model

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def seed_mlp() -> dict:
    return json.loads((EXAMPLES / "seed_mlp.json").read_text())


def only_error(doc, code: str):
    analysis = analyze(doc)
    codes = [i.code for i in analysis.errors]
    assert code in codes, [i.to_json() for i in analysis.issues]
    return next(i for i in analysis.errors if i.code == code)


def test_valid_graph_has_no_issues():
    analysis = analyze(seed_mlp())
    assert analysis.ok and not analysis.issues
    assert analysis.total_params == 7_114


def test_unknown_future_version_is_refused_clearly():
    doc = seed_mlp() | {"version": 2}
    issue = only_error(doc, "version_unsupported")
    assert "newer Layerloom" in issue.message


def test_wrong_format_name():
    assert only_error(seed_mlp() | {"format": "keras"}, "format").field == "format"


def test_not_an_object():
    assert analyze([1, 2]).errors[0].code == "not_a_graph"


def test_envelope_schema_error_points_at_node_and_field():
    doc = seed_mlp()
    del doc["nodes"][1]["type"]
    issue = only_error(doc, "schema")
    assert issue.node == "d1" and issue.field == "type"
    doc = seed_mlp()
    doc["edges"][2]["target_port"] = -1
    issue = only_error(doc, "schema")
    assert issue.edge == 2 and issue.field == "target_port"


def test_bad_and_reserved_ids():
    doc = seed_mlp()
    doc["nodes"][1]["id"] = "dense-1"
    assert only_error(doc, "bad_id").node == "dense-1"
    doc = seed_mlp()
    doc["nodes"][1]["id"] = "forward"
    assert "reserved" in only_error(doc, "bad_id").message


def test_duplicate_id():
    doc = seed_mlp()
    doc["nodes"][2]["id"] = "d1"
    issue = only_error(doc, "duplicate_id")
    assert issue.node == "d1" and issue.field == "id"


def test_unknown_type_suggests_the_right_one():
    doc = seed_mlp()
    doc["nodes"][1]["type"] = "dense"
    issue = only_error(doc, "unknown_type")
    assert issue.node == "d1" and "'Dense'" in issue.message


@pytest.mark.parametrize("params,field,words", [
    ({"units": 0}, "params.units", "greater than or equal to 1"),
    ({}, "params.units", "needs the parameter 'units'"),
    ({"units": 4, "unit": 3}, "params.unit", "unknown parameter 'unit'"),
    ({"units": 4, "activation": "relux"}, "params.activation", "relux"),
])
def test_bad_params_point_at_node_and_field(params, field, words):
    doc = seed_mlp()
    doc["nodes"][1]["params"] = params
    issue = only_error(doc, "bad_param")
    assert issue.node == "d1" and issue.field == field and words in issue.message


def test_dangling_edge():
    doc = seed_mlp()
    doc["edges"].append({"source": "d2", "target": "ghost"})
    issue = only_error(doc, "dangling_edge")
    assert issue.edge == 4 and issue.field == "target" and "ghost" in issue.message


def test_port_out_of_range():
    doc = seed_mlp()
    doc["edges"][1]["target_port"] = 1
    issue = only_error(doc, "port_out_of_range")
    assert issue.node == "a1" and issue.field == "target_port"
    doc = seed_mlp()
    doc["edges"].append({"source": "y", "target": "a1"})
    assert "ends the graph" in only_error(doc, "port_out_of_range").message
    doc = seed_mlp()
    doc["edges"].append({"source": "d1", "target": "x"})
    assert "takes no incoming edge" in only_error(doc, "port_out_of_range").message


def test_port_fed_twice():
    doc = seed_mlp()
    doc["edges"].append({"source": "x", "target": "a1"})
    issue = only_error(doc, "port_fed_twice")
    assert issue.node == "a1" and issue.edge == 4 and "d1" in issue.message and "x" in issue.message


def test_port_unfed_and_merge_with_one_input():
    doc = seed_mlp()
    doc["edges"] = [e for e in doc["edges"] if e["target"] != "d2"]
    assert only_error(doc, "port_unfed").node == "d2"
    doc = chain(("x", "Input", {"shape": [4]}), ("add", "Add", {}), ("y", "Output", {"loss": "mse"}))
    issue = only_error(doc, "port_unfed")
    assert issue.node == "add" and "at least 2" in issue.message


def test_cycle_names_the_nodes_on_it():
    doc = seed_mlp()
    # d1 -> a1 -> d2 -> d1: feed d1 from d2 through a merge so every port stays singly fed.
    doc["nodes"].append({"id": "m", "type": "Add", "params": {}})
    doc["edges"] = [e for e in doc["edges"] if e["target"] != "d1"] + [
        {"source": "x", "target": "m", "target_port": 0}, {"source": "d2", "target": "m", "target_port": 1},
        {"source": "m", "target": "d1"}]
    issue = only_error(doc, "cycle")
    assert set(issue.nodes) == {"m", "d1", "a1", "d2"}
    assert "→" in issue.message


def test_no_input_and_no_output():
    assert only_error(chain(("d", "Dense", {"units": 2})), "no_input").field == "nodes"
    assert only_error(chain(("x", "Input", {"shape": [3]}), ("d", "Dense", {"units": 2})), "no_output")


def test_share_errors():
    base = chain(("x", "Input", {"shape": [4]}), ("d1", "Dense", {"units": 4}), ("d2", "Dense", {"units": 4}),
                 ("y", "Output", {"loss": "mse"}))
    doc = copy.deepcopy(base)
    doc["nodes"][2]["share"] = "nope"
    assert only_error(doc, "share_missing").node == "d2"
    doc = copy.deepcopy(base)
    doc["nodes"][2] = {"id": "d2", "type": "Dropout", "params": {}, "share": "d1"}
    assert only_error(doc, "share_type").node == "d2"
    doc = copy.deepcopy(base)
    doc["nodes"][2]["params"] = {"units": 7}
    doc["nodes"][2]["share"] = "d1"
    assert only_error(doc, "share_params").node == "d2"
    doc = chain(("x", "Input", {"shape": [4]}), ("d1", "Dense", {"units": 3}), ("d2", "Dense", {}), ("y", "Output", {"loss": "mse"}))
    doc["nodes"][2]["share"] = "d1"
    issue = only_error(doc, "share_shape")
    assert issue.node == "d2" and "(4,)" in issue.message and "(3,)" in issue.message


def test_unreachable_is_a_warning():
    doc = seed_mlp()
    doc["nodes"].append({"id": "spare", "type": "Dense", "params": {"units": 3}})
    doc["edges"].append({"source": "d1", "target": "spare"})
    analysis = analyze(doc)
    assert analysis.ok
    assert [(w.code, w.node) for w in analysis.warnings] == [("unreachable", "spare")]


def test_shape_error_names_node_incoming_shapes_and_rule():
    doc = chain(("x", "Input", {"shape": [10]}), ("d1", "Dense", {"units": 64}), ("y", "Output", {"loss": "mse"}))
    doc["nodes"] += [{"id": "d2", "type": "Dense", "params": {"units": 32}}, {"id": "add", "type": "Add", "params": {}}]
    doc["edges"] = [{"source": "x", "target": "d1"}, {"source": "x", "target": "d2"},
                    {"source": "d1", "target": "add", "target_port": 0}, {"source": "d2", "target": "add", "target_port": 1},
                    {"source": "add", "target": "y"}]
    issue = only_error(doc, "shape")
    assert issue.node == "add"
    assert issue.message == ("add: Add needs shapes that broadcast (aligned at the end, each axis equal or 1 on one side), "
                             "got (64,) from d1 and (32,) from d2.")


def test_shape_errors_for_single_input_layers_show_the_input():
    doc = chain(("x", "Input", {"shape": [10]}), ("c", "Conv2D", {"filters": 2}), ("y", "Output", {"loss": "mse"}))
    issue = only_error(doc, "shape")
    assert issue.node == "c" and "(channels, height, width)" in issue.message and "(10,)" in issue.message
    doc = chain(("x", "Input", {"shape": [1, 2, 2]}), ("c", "Conv2D", {"filters": 2, "kernel_size": 3}), ("y", "Output", {"loss": "mse"}))
    assert "padding 'same'" in only_error(doc, "shape").message


def test_integer_ids_into_a_float_layer():
    doc = chain(("x", "Input", {"shape": [10], "dtype": "int64"}), ("d", "Dense", {"units": 2}), ("y", "Output", {"loss": "mse"}))
    issue = only_error(doc, "dtype")
    assert issue.node == "d" and "Embedding" in issue.message
    doc = chain(("x", "Input", {"shape": [10]}), ("e", "Embedding", {"input_dim": 5, "output_dim": 2}), ("y", "Output", {"loss": "mse"}))
    assert only_error(doc, "dtype").node == "e"


def test_all_problems_are_reported_at_once():
    doc = seed_mlp()
    doc["nodes"][1]["params"] = {"units": -1}
    doc["nodes"][2]["type"] = "Actvation"
    doc["edges"].append({"source": "d2", "target": "nowhere"})
    codes = sorted(i.code for i in analyze(doc).errors)
    assert codes == ["bad_param", "dangling_edge", "unknown_type"]


def test_trillion_parameters_refused_in_milliseconds_without_allocating():
    doc = chain(("x", "Input", {"shape": [1_000_000]}), ("d", "Dense", {"units": 1_000_000}), ("y", "Output", {"loss": "mse"}))
    start = time.perf_counter()
    analysis = analyze(doc)
    elapsed = time.perf_counter() - start
    issue = next(i for i in analysis.errors if i.code == "param_budget")
    assert issue.node == "d" and "1,000,001,000,000" in issue.message
    assert elapsed < 0.05
    with pytest.raises(CompileError) as err:
        build_model(analysis)
    assert err.value.issues[0].code == "param_budget"


def test_oversized_activation_and_graph_limits():
    doc = chain(("x", "Input", {"shape": [10_000]}), ("r", "RepeatVector", {"n": 100_000}), ("y", "Output", {"loss": "mse"}))
    assert only_error(doc, "too_large").node == "r"
    doc = {"nodes": [{"id": f"n{i}", "type": "Dropout"} for i in range(20_000)]}
    assert only_error(doc, "too_large").field == "nodes"


def test_build_refuses_a_graph_with_errors():
    doc = seed_mlp()
    doc["nodes"][1]["params"] = {}
    with pytest.raises(CompileError, match="needs the parameter 'units'"):
        build_model(analyze(doc))


@pytest.mark.parametrize("junk", [None, 3, "x", {"nodes": "many"}, {"nodes": [None]}, {"nodes": [{"id": 5, "type": []}]},
                                  {"nodes": [], "edges": [{"source": 1}]}, {"version": "1", "nodes": []}, {"version": True}])
def test_junk_never_raises(junk):
    analysis = analyze(junk)
    assert not analysis.ok and all(i.message for i in analysis.errors)


def test_reserved_ids_match_the_installed_torch_fx():
    import torch.fx

    from layerloom.graph.compiler import RESERVED_IDS

    public = {name for name in dir(torch.fx.GraphModule) if not name.startswith("_")}
    assert RESERVED_IDS == public | {"inputs"}


def test_analysis_does_not_import_torch():
    import subprocess
    import sys

    code = (
        "import json, sys; from layerloom.graph import analyze, summary_json; "
        "a = analyze(json.load(open('examples/toy_resnet.json'))); summary_json(a); assert a.ok; "
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=__import__("pathlib").Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == "[]"
