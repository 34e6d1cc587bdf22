"""Browser: train the digits CNN, open Try it, drop held-out digits and see its class on top; draw
on the pad and get an answer; then download the ONNX and PyTorch exports from the job's page."""

from __future__ import annotations

import base64
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import Server, open_editor
from test_train_in_browser import open_template, setup_run, start_training, wait_state


@pytest.fixture
def page(train_browser: Any, train_server: Server) -> Iterator[Any]:
    yield from open_editor(train_browser, train_server.url, timeout_ms=20_000)


def held_out_digits(server: Server, n: int) -> list[tuple[bytes, str]]:
    """Digits of the built-in dataset's test split (never trained on), as the PNGs the API shows."""
    samples = server.api("GET", f"/datasets/digits/samples?split=test&n={n}")["samples"]
    return [(base64.b64decode(s["x"]["png"].split(",", 1)[1]), s["y"]["class"]) for s in samples]


def test_try_a_trained_digits_cnn_and_download_its_exports(page: Any, train_server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    open_template(page, "digits-cnn")
    setup_run(page, "digits", epochs=5)
    start_training(page)
    assert wait_state(page, ("succeeded", "failed", "cancelled"), timeout=600) == "succeeded"
    expect(page.get_by_test_id("try-it")).to_be_visible()

    answers: list[str] = []
    page.on("response", lambda r: answers.append(f"{r.status} {r.text()[:500]}") if "/predict" in r.url else None)
    right = 0
    samples = held_out_digits(train_server, 8)
    for data, label in samples:
        page.get_by_test_id("try-image-file").set_input_files({"name": "digit.png", "mimeType": "image/png", "buffer": data})
        top = page.get_by_test_id("try-top-y")
        try:
            expect(top).to_be_visible()
        except AssertionError:
            raise AssertionError(f"no answer; the predict responses were {answers}") from None
        page.wait_for_function("() => !document.querySelector('[data-testid=try-predict-drawing]').disabled")
        right += top.inner_text() == label
    assert right >= 6, f"{right} of {len(samples)} dropped digits were classified right"

    pad = page.get_by_test_id("try-pad")
    box = pad.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.15)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.85, steps=12)
    page.mouse.up()
    page.get_by_test_id("try-predict-drawing").click()
    page.wait_for_function("() => !document.querySelector('[data-testid=try-predict-drawing]').disabled")
    expect(page.get_by_test_id("try-top-y")).to_have_text(re.compile(r"^\d$"))  # an answer for the drawing

    with page.expect_download(timeout=180_000) as onnx:
        page.get_by_test_id("export-onnx").click()
    onnx_path = tmp_path / "model.onnx"
    onnx.value.save_as(onnx_path)
    import onnx as onnx_lib

    assert [i.name for i in onnx_lib.load(str(onnx_path)).graph.input] == ["x"]
    with page.expect_download(timeout=120_000) as pytorch:
        page.get_by_test_id("export-pytorch").click()
    zip_path = tmp_path / "model.zip"
    pytorch.value.save_as(zip_path)
    with zipfile.ZipFile(zip_path) as archive:
        assert "class DigitsCnn(nn.Module)" in archive.read("model.py").decode()
    expect(page.get_by_test_id("export-error")).to_have_count(0)
