"""Readable at every size (issue 14 §2), in headless Chromium: numbers apply while typing, the header
fits a 1280 px window, "New graph" resets the zoom, and the problems list folds when there are none."""

from __future__ import annotations

import pytest
from harness import ROOT, ci

try:
    from playwright.sync_api import Page, expect
except ImportError:
    if ci():
        raise
    pytest.skip("the playwright Python package is missing (pip install playwright)", allow_module_level=True)

from editor_actions import expect_valid, fit, history, import_file, select, shape  # noqa: E402

SEED = ROOT / "examples" / "seed_mlp.json"


def test_typing_a_number_updates_shapes_before_blur(page: Page) -> None:
    import_file(page, SEED)
    expect_valid(page, "7,114")
    select(page, "d1")
    depth = history(page)
    units = page.get_by_test_id("param-units")
    units.fill("")
    units.press_sequentially("48", delay=120)  # "4", then "8", no Enter, no blur
    expect(shape(page, "d1")).to_have_text("→ 48")
    assert units.evaluate("e => e === document.activeElement")
    units.press_sequentially("0", delay=50)
    expect(shape(page, "d1")).to_have_text("→ 480")
    units.press("Tab")
    assert history(page) == depth + 1  # one undo entry for the whole typing
    page.evaluate("() => document.activeElement.blur()")  # Ctrl+Z in a field is the field's own undo
    page.keyboard.press("Control+z")
    expect(shape(page, "d1")).to_have_text("→ 64")  # the seed's own 64 units


@pytest.mark.parametrize("width,height", [(1280, 800), (1440, 900), (1920, 1080)])
def test_the_header_fits(page: Page, width: int, height: int) -> None:
    page.set_viewport_size({"width": width, "height": height})
    page.wait_for_timeout(100)
    header = page.locator(".ll-header")
    overflow = header.evaluate("h => h.scrollWidth - h.clientWidth")
    assert overflow <= 0, f"the header overflows by {overflow} px at {width} px"
    expect(page.get_by_test_id("theme")).to_be_in_viewport()
    expect(page.get_by_test_id("open-training")).to_contain_text("Train")


def test_new_graph_resets_the_zoom(page: Page) -> None:
    import_file(page, SEED)
    expect_valid(page, "7,114")
    fit(page)
    zoom = lambda: page.evaluate(  # noqa: E731
        "() => new DOMMatrix(getComputedStyle(document.querySelector('.react-flow__viewport')).transform).a")
    for _ in range(4):
        page.get_by_role("button", name="Zoom Out").click()
    assert zoom() < 0.9
    page.get_by_test_id("new").click()
    expect(page.get_by_test_id("empty-hint")).to_be_visible()
    page.wait_for_timeout(100)
    assert abs(zoom() - 1) < 1e-6


def test_the_problems_list_folds_when_there_are_none(page: Page) -> None:
    expect(page.get_by_test_id("bottom-toggle")).to_have_attribute("aria-expanded", "true")  # empty graph: 2 problems
    import_file(page, SEED)
    expect_valid(page, "7,114")
    expect(page.get_by_test_id("bottom-toggle")).to_have_attribute("aria-expanded", "false")
    page.get_by_test_id("tab-summary").click()  # still reachable by a click
    expect(page.get_by_test_id("bottom-toggle")).to_have_attribute("aria-expanded", "true")


def test_help_where_it_is_needed(page: Page) -> None:
    """Issue 14 §6: "?" opens the shortcut sheet (from the command registry); palette entries and
    problems link to help pages the app serves; an empty Jobs page says how to start."""
    page.keyboard.press("?")
    sheet = page.get_by_test_id("shortcut-sheet")
    expect(sheet).to_be_visible()
    expect(page.get_by_test_id("shortcut-undo")).to_contain_text("Ctrl+Z")
    expect(sheet).to_contain_text("Drop a layer onto a wire")
    page.keyboard.press("Escape")
    expect(sheet).to_have_count(0)

    href = page.get_by_test_id("help-Dense").get_attribute("href")
    assert href == "/api/help/layers/Dense"
    help_page = page.context.new_page()
    help_page.goto(page.url.split("/?")[0].rstrip("/") + href)
    expect(help_page.locator("h1")).to_have_text("Dense")
    expect(help_page.locator("table")).to_contain_text("units")
    help_page.close()

    # the empty graph has two problems; each links to its code's entry
    first = page.get_by_test_id("problem-help").first
    assert first.get_attribute("href").startswith("/api/help/errors#code-")

    page.get_by_test_id("open-jobs").click()
    expect(page.get_by_test_id("jobs-empty")).to_contain_text("press Train")


def test_train_is_disabled_with_reasons_and_saves_nothing(page: Page, server) -> None:
    """Issue 14 §4: while the mapping has errors the Train button is disabled and says why; nothing
    is saved (no graph, no version) until a submission would be accepted."""
    graphs_before = server.api("GET", "/graphs")["count"]
    import_file(page, SEED)  # 100 features in, 10 classes out
    expect_valid(page, "7,114")
    page.get_by_test_id("open-training").click()
    page.get_by_test_id("dataset-select").select_option("iris")  # 4 features, 3 classes: does not fit
    expect(page.get_by_test_id("mapping")).to_be_visible()
    expect(page.get_by_test_id("train")).to_be_disabled()
    blockers = page.get_by_test_id("train-blockers")
    expect(blockers).to_contain_text("Mapping of")
    assert server.api("GET", "/graphs")["count"] == graphs_before


def test_a_long_model_opens_readable_at_its_inputs(page: Page, tmp_path) -> None:
    """Issue 9: a template opens at a readable zoom (cards at ≥ 60%) rather than fitted to a speck."""
    import json

    nodes = [{"id": "x", "type": "Input", "params": {"shape": [16]}}]
    nodes += [{"id": f"d{i}", "type": "Dense", "params": {"units": 16}} for i in range(40)]
    nodes += [{"id": "y", "type": "Output", "params": {"loss": "mse"}}]
    edges = [{"source": a["id"], "target": b["id"]} for a, b in zip(nodes, nodes[1:])]
    path = tmp_path / "long.json"
    path.write_text(json.dumps({"format": "layerloom.graph", "version": 1, "name": "long", "nodes": nodes, "edges": edges}))
    import_file(page, path)
    expect(page.get_by_test_id("node-x")).to_be_in_viewport()
    page.wait_for_timeout(300)
    zoom = page.evaluate("() => new DOMMatrix(getComputedStyle(document.querySelector('.react-flow__viewport')).transform).a")
    assert zoom >= 0.6 - 1e-6
    page.keyboard.press("f")  # F still fits everything
    page.wait_for_timeout(300)
    expect(page.get_by_test_id("node-y")).to_be_in_viewport()
