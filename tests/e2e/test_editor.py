"""The visual editor end to end, in headless Chromium against the real backend: build a model from
the palette, see shapes and parameter counts, make and fix a shape error, undo and redo, save and
reopen, templates, JSON export and import, and screenshots of both themes (tests/e2e/artifacts/)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from harness import ROOT, Server, ci

try:
    from playwright.sync_api import Page, expect
except ImportError:
    if ci():
        raise
    pytest.skip("the playwright Python package is missing (pip install playwright)", allow_module_level=True)

from editor_actions import (  # noqa: E402
    center, doc, drop_layer, expect_valid, fit, history, import_file, node, open_template, select, set_param, shape,
    wire,
)

EXAMPLES = ROOT / "examples"


# ---- acceptance ------------------------------------------------------------------------------


def test_build_seed_mlp_from_the_palette(page: Page, artifacts: Path) -> None:
    """Input shape 100 → Dense 64 → Activation relu → Dense 10 softmax → Output, by drag and drop and
    wiring: 7,114 parameters and every node's shape, exactly the seed MLP of examples/."""
    expect(page.get_by_test_id("empty-hint")).to_be_visible()
    # the palette: every category of the catalog, and a search over names and docs
    for group in ["Inputs/Outputs", "Core", "Convolution", "Pooling", "Recurrent", "Activation", "Attention", "Normalization",
                  "Preprocessing", "Merge", "Regularization"]:
        expect(page.locator(".ll-group-head", has_text=group)).to_have_count(1)
    page.get_by_test_id("palette-search").fill("long short")
    expect(page.get_by_test_id("palette-LSTM")).to_be_visible()
    expect(page.get_by_test_id("palette-Dense")).to_have_count(0)
    page.get_by_test_id("palette-search").fill("")
    for layer, x, y in [("Input", 110, 120), ("Dense", 330, 120), ("Activation", 550, 120),
                        ("Dense", 330, 330), ("Output", 550, 330)]:
        drop_layer(page, layer, x, y)
    ids = ["input_1", "dense_1", "activation_1", "dense_2", "output_1"]
    for i in ids:
        expect(node(page, i)).to_be_visible()

    select(page, "input_1")
    set_param(page, "shape", "100")
    select(page, "dense_1")
    set_param(page, "units", "64")
    select(page, "activation_1")
    set_param(page, "activation", "relu")
    select(page, "dense_2")
    set_param(page, "units", "10")
    set_param(page, "activation", "softmax")
    select(page, "output_1")
    page.get_by_test_id("param-metrics-accuracy").click()

    for a, b in zip(ids, ids[1:]):
        wire(page, a, b)

    expect_valid(page, "7,114")
    expect(page.get_by_test_id("trainable-params")).to_have_text("7,114")
    for node_id, text in [("input_1", "→ 100"), ("dense_1", "→ 64"), ("activation_1", "→ 64"),
                          ("dense_2", "→ 10"), ("output_1", "← 10")]:
        expect(shape(page, node_id)).to_have_text(text)
    expect(node(page, "dense_1").get_by_test_id("params")).to_have_text("6,464")
    expect(node(page, "dense_2").get_by_test_id("params")).to_have_text("650")

    seed = json.loads((EXAMPLES / "seed_mlp.json").read_text())
    built = doc(page)
    rename = dict(zip(ids, [n["id"] for n in seed["nodes"]]))
    assert [(n["type"], n["params"]) for n in built["nodes"]] == [(n["type"], n["params"]) for n in seed["nodes"]
                                                                 if n["type"] != "Output"] + [("Output", {"metrics": ["accuracy"]})]
    assert [(rename[e["source"]], rename[e["target"]]) for e in built["edges"]] == \
        [(e["source"], e["target"]) for e in seed["edges"]]

    page.get_by_test_id("tab-summary").click()
    expect(page.get_by_test_id("summary-totals")).to_contain_text("Total params: 7,114")
    fit(page)
    select(page, "dense_1")
    page.screenshot(path=str(artifacts / "seed-mlp-light.png"))


def test_shape_error_on_the_right_node_fixed_undone_and_redone(page: Page, tmp_path: Path) -> None:
    """An Add of 64 and 32 features is a shape error painted on the Add (not elsewhere), listed in the
    problems panel (a click selects the node); fixing the Dense clears it; undo brings it back and
    redo fixes it again."""
    import_file(page, EXAMPLES / "seed_mlp.json")
    expect_valid(page, "7,114")
    fit(page)
    drop_layer(page, "Dense", 200, 40)
    drop_layer(page, "Add", 560, 40)
    expect(node(page, "dense_1")).to_be_visible()
    expect(node(page, "add_1")).to_be_visible()
    select(page, "dense_1")
    set_param(page, "units", "32")
    wire(page, "x", "dense_1")
    wire(page, "d1", "add_1", 0)
    wire(page, "dense_1", "add_1", 1)

    add = node(page, "add_1")
    expect(add).to_have_class(re.compile(r"\bhas-error\b"))
    expect(add).to_have_attribute("title", re.compile(r"Add needs shapes that broadcast .*, got \(64,\) from d1 and \(32,\) from dense_1"))
    for other in ["x", "d1", "a1", "d2", "y", "dense_1"]:
        expect(node(page, other)).not_to_have_class(re.compile(r"\bhas-error\b"))
    problems = page.get_by_test_id("problem")
    shape_problem = problems.filter(has_text="Add needs shapes that broadcast")
    expect(shape_problem).to_have_count(1)
    page.get_by_test_id("canvas").click(position={"x": 5, "y": 5})  # clear the selection
    shape_problem.click()
    expect(page.get_by_test_id("rename")).to_have_value("add_1")
    expect(node(page, "add_1")).to_have_class(re.compile(r"\bis-selected\b"))

    # fix: 64 units on the new Dense
    fit(page)
    select(page, "dense_1")
    before = history(page)
    set_param(page, "units", "64")
    expect(add).not_to_have_class(re.compile(r"\bhas-error\b"))
    expect(shape(page, "add_1")).to_have_text("→ 64")
    assert history(page) == before + 1

    page.get_by_test_id("canvas").click(position={"x": 5, "y": 5})
    page.keyboard.press("Control+z")
    expect(add).to_have_class(re.compile(r"\bhas-error\b"))
    expect(shape(page, "add_1")).to_have_text("→ ?")
    page.keyboard.press("Control+Shift+z")
    expect(add).not_to_have_class(re.compile(r"\bhas-error\b"))
    expect(shape(page, "add_1")).to_have_text("→ 64")
    # the toolbar buttons do the same
    page.get_by_test_id("undo").click()
    expect(add).to_have_class(re.compile(r"\bhas-error\b"))
    page.get_by_test_id("redo").click()
    expect(add).not_to_have_class(re.compile(r"\bhas-error\b"))


def test_a_drag_is_one_undo_entry(page: Page) -> None:
    import_file(page, EXAMPLES / "seed_mlp.json")
    expect_valid(page, "7,114")
    start = doc(page)["layout"]["d1"]
    before = history(page)
    box = node(page, "d1").get_by_test_id("node-id").bounding_box()
    x, y = center(box)
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, 25):
        page.mouse.move(x + i * 6, y + i * 4)
    page.mouse.up()
    moved = doc(page)["layout"]["d1"]
    assert moved != start
    assert history(page) == before + 1
    page.keyboard.press("Control+z")
    assert doc(page)["layout"]["d1"] == start
    page.keyboard.press("Control+Shift+z")
    assert doc(page)["layout"]["d1"] == moved


def test_connection_rules_and_editing_shortcuts(page: Page) -> None:
    """A wire into a fed port or one closing a cycle is refused before any edge is made; Ctrl+C/V,
    Ctrl+D and Delete copy, duplicate and delete."""
    import_file(page, EXAMPLES / "seed_mlp.json")
    expect_valid(page, "7,114")
    fit(page)
    edges = doc(page)["edges"]
    wire(page, "x", "a1")  # a1's only port is fed by d1
    wire(page, "d2", "d1")  # d1 → a1 → d2: a cycle
    assert doc(page)["edges"] == edges

    # double-click adds at the center of the view
    page.get_by_test_id("palette-Dropout").dblclick()
    expect(node(page, "dropout_1")).to_be_visible()
    canvas = page.get_by_test_id("canvas").bounding_box()
    cx, cy = center(node(page, "dropout_1").bounding_box())
    assert abs(cx - (canvas["x"] + canvas["width"] / 2)) < 40 and abs(cy - (canvas["y"] + canvas["height"] / 2)) < 40
    page.keyboard.press("Delete")
    expect(node(page, "dropout_1")).to_have_count(0)

    node(page, "d2").get_by_test_id("node-id").click()
    page.keyboard.press("Control+d")
    expect(node(page, "d2_1")).to_be_visible()
    page.keyboard.press("Control+c")
    page.keyboard.press("Control+v")
    expect(node(page, "d2_2")).to_be_visible()
    page.keyboard.press("Delete")
    expect(node(page, "d2_2")).to_have_count(0)
    assert [n["id"] for n in doc(page)["nodes"]] == ["x", "d1", "a1", "d2", "y", "d2_1"]
    page.keyboard.press("Control+z")
    expect(node(page, "d2_2")).to_be_visible()
    # F fits the view: every node on screen
    page.keyboard.press("f")
    page.wait_for_timeout(300)
    canvas = page.get_by_test_id("canvas").bounding_box()
    for n in doc(page)["nodes"]:
        b = node(page, n["id"]).bounding_box()
        assert canvas["x"] <= b["x"] and b["x"] + b["width"] <= canvas["x"] + canvas["width"] + 1


def test_rename_follows_edges_and_shared_weights_count_once(page: Page) -> None:
    import_file(page, EXAMPLES / "seed_mlp.json")
    expect_valid(page, "7,114")
    select(page, "d1")
    rename = page.get_by_test_id("rename")
    rename.fill("9bad")
    expect(page.get_by_role("alert")).to_contain_text("Start with a letter")
    rename.fill("hidden")
    rename.press("Enter")
    expect(node(page, "hidden")).to_be_visible()
    assert {"source": "x", "target": "hidden"} in doc(page)["edges"]
    assert {"source": "hidden", "target": "a1"} in doc(page)["edges"]
    # a second call of d2's weights on a new branch is counted once
    open_template(page, "siamese")
    expect_valid(page, "6,242")
    select(page, "right_hidden")
    expect(page.get_by_test_id("share-select")).to_have_value("left_hidden")
    page.get_by_test_id("share-select").select_option("")
    expect(page.get_by_test_id("total-params")).to_have_text("10,402")
    page.get_by_test_id("share-select").select_option("left_hidden")
    expect(page.get_by_test_id("total-params")).to_have_text("6,242")


def test_save_reload_and_open_again_unchanged(page: Page, server: Server) -> None:
    open_template(page, "two-head")
    expect_valid(page, "17,323")
    page.get_by_test_id("save").click()
    page.get_by_test_id("save-name").fill("two-head-e2e")
    page.get_by_test_id("save-confirm").click()
    expect(page.get_by_test_id("save-status")).to_have_text("Saved · v1")
    saved = doc(page)
    stored = [g for g in server.api("GET", "/graphs?limit=200")["data"] if g["name"] == "two-head-e2e"]
    assert len(stored) == 1

    page.reload()  # the draft brings everything back
    expect(page.get_by_test_id("total-params")).to_have_text("17,323")
    expect(page.get_by_test_id("save-status")).to_have_text("Saved · v1")
    assert doc(page) == saved

    # an edit, a second version, then a new graph, then open the first version again
    select(page, "trunk")
    set_param(page, "units", "32")
    expect(page.get_by_test_id("save-status")).to_have_text("Unsaved changes · v1")
    page.keyboard.press("Escape")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("save-status")).to_have_text("Saved · v2")
    page.get_by_test_id("new").click()
    expect(page.get_by_test_id("empty-hint")).to_be_visible()

    page.get_by_test_id("open").click()
    page.get_by_test_id("open-graph-two-head-e2e").click()
    expect(page.get_by_test_id("save-status")).to_have_text("Saved · v2")
    assert doc(page)["nodes"][4]["params"]["units"] == 32
    page.get_by_test_id("open").click()
    dialog = page.get_by_test_id("open-dialog")
    dialog.get_by_role("button", name="Versions").click()
    dialog.get_by_role("button", name="Version 1").click()
    expect(page.get_by_test_id("total-params")).to_have_text("17,323")
    assert doc(page) == saved


def test_inception_template_validates_without_errors(page: Page) -> None:
    open_template(page, "inception-module")
    expect_valid(page, "126,954")
    expect(page.get_by_test_id("tab-problems")).to_contain_text("✓")
    inception = json.loads((EXAMPLES / "inception_module.json").read_text())
    assert doc(page) == inception
    for node_id, text in [("x", "→ 3×32×32"), ("mixed", "→ 256×32×32"), ("gap", "→ 256"), ("classifier", "→ 10")]:
        expect(shape(page, node_id)).to_have_text(text)
    # the merge shows its four ordered ports
    for p in range(4):
        expect(page.get_by_test_id(f"in-mixed-{p}")).to_have_count(1)
    # auto-layout keeps the branches in port order
    page.get_by_test_id("auto-layout").click()
    layout = doc(page)["layout"]
    ys = [layout[n]["y"] for n in ["branch2_3x3", "branch3_5x5", "branch4_proj"]]
    assert ys == sorted(ys)


def test_export_and_reimport_identical(page: Page, tmp_path: Path) -> None:
    for example in ["siamese.json", "toy_resnet.json"]:
        original = json.loads((EXAMPLES / example).read_text())
        import_file(page, EXAMPLES / example)
        expect(page.get_by_test_id("graph-name")).to_have_value(original["name"])
        with page.expect_download() as info:
            page.get_by_test_id("export").click()
        first = tmp_path / f"first-{example}"
        info.value.save_as(first)
        assert info.value.suggested_filename == f"{original['name']}.json"
        assert json.loads(first.read_text()) == original

        page.get_by_test_id("new").click()
        import_file(page, first)
        with page.expect_download() as info2:
            page.get_by_test_id("export").click()
        second = tmp_path / f"second-{example}"
        info2.value.save_as(second)
        assert second.read_bytes() == first.read_bytes()


def test_screenshots_light_and_dark(page: Page, artifacts: Path) -> None:
    open_template(page, "inception-module")
    expect_valid(page, "126,954")
    page.wait_for_timeout(300)
    select(page, "branch2_3x3")
    page.screenshot(path=str(artifacts / "editor-light.png"))
    page.get_by_test_id("theme").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    page.wait_for_timeout(200)
    page.screenshot(path=str(artifacts / "editor-dark.png"))
    # a broken graph in dark: the problems panel and a painted node
    select(page, "branch3_5x5")
    set_param(page, "padding", "valid")
    expect(node(page, "mixed")).to_have_class(re.compile(r"\bhas-error\b"))
    page.screenshot(path=str(artifacts / "editor-dark-error.png"))
    page.get_by_test_id("theme").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "light")
    page.screenshot(path=str(artifacts / "editor-light-error.png"))


def test_errors_painted_on_edges_and_inline_validation(page: Page, tmp_path: Path) -> None:
    """A wire the compiler objects to is painted and explains itself on hover; a bad value typed in
    the inspector is explained inline and not committed; a merge grows a port on request."""
    broken = json.loads((EXAMPLES / "seed_mlp.json").read_text())
    broken["edges"].append({"source": "x", "target": "y"})  # y's only port, fed twice
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    import_file(page, path)
    expect(page.get_by_test_id("total-params")).to_have_text("7,114")
    expect(node(page, "y")).to_have_class(re.compile(r"\bhas-error\b"))
    hit = page.get_by_test_id("edge-issue-x:0>y:0")
    expect(hit).to_have_count(1)
    expect(hit.locator("title")).to_have_text(re.compile(r"input port 0 is fed by both"))
    expect(page.locator('[data-id="x:0>y:0"] .ll-wire')).to_have_class(re.compile(r"\bhas-error\b"))

    select(page, "d1")
    before = history(page)
    field = page.get_by_test_id("param-units")
    field.fill("0")
    field.press("Enter")
    expect(page.get_by_test_id("field-error-units")).to_have_text("Must be ≥ 1.")
    assert history(page) == before and doc(page)["nodes"][1]["params"] == {"units": 64}
    field.fill("48")
    field.press("Enter")
    expect(page.get_by_test_id("field-error-units")).to_have_count(0)
    assert doc(page)["nodes"][1]["params"] == {"units": 48}

    page.get_by_test_id("palette-Concatenate").dblclick()
    expect(page.get_by_test_id("in-concatenate_1-1")).to_have_count(1)
    expect(page.get_by_test_id("in-concatenate_1-2")).to_have_count(0)
    page.get_by_test_id("add-port-concatenate_1").click()
    expect(page.get_by_test_id("in-concatenate_1-2")).to_have_count(1)

    # a tuple param: a 3×5 kernel
    page.get_by_test_id("palette-Conv2D").dblclick()
    expect(page.get_by_test_id("rename")).to_have_value("conv2d_1")
    set_param(page, "kernel_size", "3, 5")
    set_param(page, "filters", "8")
    conv = next(n for n in doc(page)["nodes"] if n["id"] == "conv2d_1")
    assert conv["params"] == {"kernel_size": [3, 5], "filters": 8}


def test_open_keras_model_from_the_toolbar(page: Page, tmp_path: Path) -> None:
    """The "Keras" button uploads a model.to_json() document; the server's graph opens in the editor,
    and a refused model says which layer."""
    layers = [
        {"class_name": "InputLayer", "name": "inp", "inbound_nodes": [],
         "config": {"batch_input_shape": [None, 5], "dtype": "float32", "name": "inp"}},
        {"class_name": "Dense", "name": "d1", "config": {"name": "d1", "units": 3, "activation": "relu"},
         "inbound_nodes": [[["inp", 0, 0, {}]]]},
        {"class_name": "Dense", "name": "d2", "config": {"name": "d2", "units": 3, "use_bias": False},
         "inbound_nodes": [[["inp", 0, 0, {}]]]},
        {"class_name": "Add", "name": "add", "config": {"name": "add"},
         "inbound_nodes": [[["d1", 0, 0, {}], ["d2", 0, 0, {}]]]}]
    model = {"class_name": "Functional", "config": {"name": "from_keras", "layers": layers,
                                                    "input_layers": [["inp", 0, 0]], "output_layers": [["add", 0, 0]]}}
    path = tmp_path / "model.json"
    path.write_text(json.dumps(model))
    page.get_by_test_id("import-keras-input").set_input_files(str(path))
    expect(page.get_by_test_id("graph-name")).to_have_value("from_keras")
    expect(page.get_by_test_id("total-params")).to_have_text("33")
    expect(node(page, "add")).to_be_visible()

    layers.append({"class_name": "Lambda", "name": "doubler", "config": {"name": "doubler", "function": "..."},
                   "inbound_nodes": [[["add", 0, 0, {}]]]})
    model["config"]["output_layers"] = [["doubler", 0, 0]]
    path.write_text(json.dumps(model))
    page.get_by_test_id("import-keras-input").set_input_files(str(path))
    expect(page.get_by_text("doubler", exact=False).first).to_be_visible()
