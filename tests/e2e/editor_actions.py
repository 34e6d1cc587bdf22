"""What a person does in the editor, as Playwright steps shared by the browser suites: drop a layer,
draw a wire, select, set a parameter, open a template, and read the open document back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect

def doc(page: Page) -> dict[str, Any]:
    """The open document, serialized exactly as the editor saves and exports it."""
    return page.evaluate("() => window.__layerloomDoc()")


def history(page: Page) -> int:
    return page.evaluate("() => window.__layerloom.temporal.getState().pastStates.length")


def center(box: dict[str, float]) -> tuple[float, float]:
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def drop_layer(page: Page, layer: str, x: float, y: float) -> None:
    """Drag a layer from the palette onto the canvas, (x, y) from the canvas's top-left corner."""
    page.get_by_test_id(f"palette-{layer}").drag_to(page.get_by_test_id("canvas"), target_position={"x": x, "y": y})


def wire(page: Page, source: str, target: str, port: int = 0) -> None:
    """Drag a wire from source's output port to target's input port."""
    a = page.get_by_test_id(f"out-{source}-0").bounding_box()
    b = page.get_by_test_id(f"in-{target}-{port}").bounding_box()
    assert a and b, f"ports of {source} / {target} not on screen"
    page.mouse.move(*center(a))
    page.mouse.down()
    page.mouse.move(*center(b), steps=10)
    page.mouse.up()


def node(page: Page, node_id: str):
    return page.get_by_test_id(f"node-{node_id}")


def select(page: Page, node_id: str) -> None:
    node(page, node_id).get_by_test_id("node-id").click()
    expect(page.get_by_test_id("rename")).to_have_value(node_id)


def set_param(page: Page, name: str, value: str) -> None:
    field = page.get_by_test_id(f"param-{name}")
    if field.evaluate("e => e.tagName") == "SELECT":
        field.select_option(value)
    else:
        field.fill(value)
        field.press("Enter")


def import_file(page: Page, path: Path) -> None:
    page.get_by_test_id("import-input").set_input_files(str(path))


def open_template(page: Page, name: str) -> None:
    page.get_by_test_id("templates").click()
    page.get_by_test_id(f"template-{name}").click()
    expect(page.get_by_test_id("templates-dialog")).to_have_count(0)


def expect_valid(page: Page, total: str) -> None:
    expect(page.get_by_test_id("total-params")).to_have_text(total)
    expect(page.get_by_test_id("problems-ok")).to_be_visible()  # the Problems tab says none (its list folds away)


def shape(page: Page, node_id: str):
    return node(page, node_id).get_by_test_id("shape")


def fit(page: Page) -> None:
    page.get_by_test_id("fit-view").click()
    page.wait_for_timeout(100)
