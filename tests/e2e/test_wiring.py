"""Wiring gives feedback (issue 14 §1), in headless Chromium against the real backend: a refused wire
says why and changes nothing; a layer dropped onto a wire is spliced into it; the palette adds after
the selected layer; a wire dropped on empty canvas opens a searchable palette there."""

from __future__ import annotations

import pytest
from harness import ROOT, ci

try:
    from playwright.sync_api import Page, expect
except ImportError:
    if ci():
        raise
    pytest.skip("the playwright Python package is missing (pip install playwright)", allow_module_level=True)

from editor_actions import center, doc, expect_valid, fit, history, import_file, node, select  # noqa: E402

SEED = ROOT / "examples" / "seed_mlp.json"


def open_seed(page: Page) -> None:
    import_file(page, SEED)
    expect_valid(page, "7,114")
    fit(page)


def hover_wire(page: Page, source: str, target: str, port: int = 0) -> None:
    """Start a wire at source's output and hold it over target's input port (mouse still down)."""
    a = page.get_by_test_id(f"out-{source}-0").bounding_box()
    b = page.get_by_test_id(f"in-{target}-{port}").bounding_box()
    page.mouse.move(*center(a))
    page.mouse.down()
    page.mouse.move(*center(b), steps=12)


def test_a_cycle_attempt_shows_why_and_changes_nothing(page: Page) -> None:
    open_seed(page)
    before, undo_depth = doc(page), history(page)
    hover_wire(page, "d2", "d1")  # d1 → a1 → d2 already: this would close a cycle
    tip = page.get_by_test_id("wire-refusal")
    expect(tip).to_be_visible()
    expect(tip).to_contain_text("d2 → d1 → a1 → d2")
    # the port under the pointer is painted as refused
    port_color = page.get_by_test_id("in-d1-0").evaluate("e => getComputedStyle(e).backgroundColor")
    page.mouse.up()
    assert port_color == "rgb(209, 52, 59)"  # --error
    expect(tip).to_have_count(0)
    expect(page.get_by_test_id("notice")).to_contain_text("cycle")
    assert doc(page) == before and history(page) == undo_depth

    # a port that is already fed names the wire there
    hover_wire(page, "x", "a1")
    expect(page.get_by_test_id("wire-refusal")).to_contain_text("d1 → a1")
    page.mouse.up()
    assert doc(page) == before


def test_a_layer_dropped_onto_a_wire_is_inserted(page: Page) -> None:
    open_seed(page)
    path = page.locator('.react-flow__edge[data-id="a1:0>d2:0"] path').first
    box = path.bounding_box()
    assert box, "the a1 → d2 wire is not on screen"
    canvas = page.get_by_test_id("canvas").bounding_box()
    # the wire's midpoint, relative to the canvas
    mid = path.evaluate("p => { const l = p.getTotalLength(); const m = p.getPointAtLength(l / 2); "
                        "const r = p.ownerSVGElement.getScreenCTM(); return [m.x * r.a + r.e, m.y * r.d + r.f]; }")
    page.get_by_test_id("palette-Dropout").drag_to(
        page.get_by_test_id("canvas"), target_position={"x": mid[0] - canvas["x"], "y": mid[1] - canvas["y"]})
    expect(node(page, "dropout_1")).to_be_visible()
    edges = doc(page)["edges"]
    assert {"source": "a1", "target": "dropout_1"} in edges
    assert {"source": "dropout_1", "target": "d2"} in edges
    assert {"source": "a1", "target": "d2"} not in edges
    expect_valid(page, "7,114")
    page.keyboard.press("Control+z")  # one gesture, one undo entry
    expect(node(page, "dropout_1")).to_have_count(0)
    assert {"source": "a1", "target": "d2"} in doc(page)["edges"]


def test_palette_adds_after_the_selected_layer(page: Page) -> None:
    open_seed(page)
    page.get_by_test_id("palette-Dropout").dblclick()
    expect(node(page, "dropout_1")).to_be_visible()  # dropped in the middle, unwired, selected now
    assert not any(e["target"] == "dropout_1" for e in doc(page)["edges"])
    select(page, "d2")
    page.get_by_test_id("palette-Dense").dblclick()
    expect(node(page, "dense_1")).to_be_visible()
    assert {"source": "d2", "target": "dense_1"} in doc(page)["edges"]
    x_d2 = node(page, "d2").bounding_box()["x"]
    assert node(page, "dense_1").bounding_box()["x"] > x_d2  # placed after it


def test_a_wire_dropped_on_empty_canvas_opens_a_palette_there(page: Page) -> None:
    open_seed(page)
    a = page.get_by_test_id("out-d2-0").bounding_box()
    page.mouse.move(*center(a))
    page.mouse.down()
    page.mouse.move(center(a)[0] + 60, center(a)[1] + 170, steps=10)
    page.mouse.up()
    picker = page.get_by_test_id("quick-add")
    expect(picker).to_be_visible()
    page.get_by_test_id("quick-add-search").fill("dropo")
    expect(page.get_by_test_id("quick-add-Input")).to_have_count(0)
    page.keyboard.press("Enter")
    expect(picker).to_have_count(0)
    expect(node(page, "dropout_1")).to_be_visible()
    assert {"source": "d2", "target": "dropout_1"} in doc(page)["edges"]
    # Escape closes it without adding anything
    page.mouse.move(*center(page.get_by_test_id("out-d2-0").bounding_box()))
    page.mouse.down()
    page.mouse.move(center(a)[0] + 90, center(a)[1] - 160, steps=10)
    page.mouse.up()
    expect(picker).to_be_visible()
    page.keyboard.press("Escape")
    expect(picker).to_have_count(0)
    assert len(doc(page)["nodes"]) == 6
