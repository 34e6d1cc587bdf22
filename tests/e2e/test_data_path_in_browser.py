"""The data path in Chromium (issue 14 §3), against a real ``layerloom serve`` with its worker:

- the wine CSV (written here from scikit-learn's copy, with a `label` column 0/1/2 and a train/test
  split column) uploaded from the setup page is read as 3 classes and says why; the one-click switch
  turns it numeric and back; a graph whose ends are named `features` and `species` maps itself
  (fit(x, y)); standardization is on by default; 50 epochs from the UI reach >= 90% test accuracy;
- the Datasets tab: upload there, list, a stratified preview, rename, delete with a confirmation.
"""

from __future__ import annotations

import csv
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import ARTIFACTS, Server, open_editor

GRAPH = {"format": "layerloom.graph", "version": 1, "name": "wine-mlp",
         "nodes": [{"id": "features", "type": "Input", "params": {"shape": [13]}},
                   {"id": "d1", "type": "Dense", "params": {"units": 16, "activation": "relu"}},
                   {"id": "d2", "type": "Dense", "params": {"units": 3, "activation": "softmax"}},
                   {"id": "species", "type": "Output",
                    "params": {"loss": "sparse_categorical_crossentropy", "metrics": ["accuracy"]}}],
         "edges": [{"source": "features", "target": "d1"}, {"source": "d1", "target": "d2"},
                   {"source": "d2", "target": "species"}],
         "layout": {"features": {"x": 0, "y": 80}, "d1": {"x": 240, "y": 80}, "d2": {"x": 480, "y": 80},
                    "species": {"x": 720, "y": 80}}}


@pytest.fixture
def page(train_browser: Any, train_server: Server) -> Iterator[Any]:
    yield from open_editor(train_browser, train_server.url, timeout_ms=20_000)


def write_wine(path: Path) -> Path:
    """178 rows sorted by class; every fourth row is test (45 rows), the rest train."""
    from sklearn.datasets import load_wine

    wine = load_wine()
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow([*wine.feature_names, "split", "label"])
        for i, (row, label) in enumerate(zip(wine.data, wine.target)):
            writer.writerow([*row, "test" if i % 4 == 0 else "train", int(label)])
    return path


def wait_job(server: Server, job_id: str, timeout: float = 240) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = server.api("GET", f"/jobs/{job_id}")
        if job["state"] in ("succeeded", "failed", "cancelled"):
            return job
        time.sleep(0.5)
    raise AssertionError(f"job {job_id} did not finish in {timeout}s")


def test_wine_csv_trains_as_three_classes_with_standardization(page: Any, train_server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    graph_file = tmp_path / "wine-mlp.json"
    graph_file.write_text(json.dumps(GRAPH))
    page.get_by_test_id("import-input").set_input_files(str(graph_file))
    expect(page.get_by_test_id("total-params")).to_have_text("275")

    page.get_by_test_id("open-training").click()
    page.get_by_test_id("upload-file").set_input_files(str(write_wine(tmp_path / "wine.csv")))
    expect(page.get_by_test_id("csv-target")).to_have_value("label")
    expect(page.get_by_test_id("csv-split")).to_have_value("split")
    page.get_by_test_id("upload-submit").click()

    # The import says what it decided and why, with the switch.
    note = page.get_by_test_id("target-y")
    expect(note).to_have_attribute("data-kind", "categorical")
    expect(note).to_contain_text("categorical (3 classes)")
    expect(note).to_contain_text("named like a label")
    expect(page.get_by_test_id("array-y")).to_contain_text("class_labels")
    page.get_by_test_id("switch-y").click()
    expect(note).to_have_attribute("data-kind", "numeric")
    expect(page.get_by_test_id("array-y")).to_contain_text("values")
    expect(page.get_by_test_id("map-problem-species")).to_be_visible()  # a regression target for a 3-way softmax
    page.get_by_test_id("switch-y").click()
    expect(note).to_have_attribute("data-kind", "categorical")
    expect(note).to_contain_text("named like a label")  # back to what detection chose, and why
    expect(page.get_by_test_id("map-problem-species")).to_have_count(0)

    # fit(x, y): the one Input and the one head map themselves; standardization is on for a CSV.
    expect(page.get_by_test_id("map-select-features")).to_have_value("x")
    expect(page.get_by_test_id("map-select-species")).to_have_value("y")
    expect(page.get_by_test_id("cfg-standardize")).to_be_checked()
    expect(page.get_by_test_id("dataset-samples")).to_be_visible()
    expect(page.get_by_test_id("samples-note")).to_contain_text("class by class")
    page.get_by_test_id("cfg-epochs").fill("50")
    page.get_by_test_id("cfg-batch").fill("16")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "data-path-setup.png"), full_page=True)
    page.get_by_test_id("train").click()
    expect(page.get_by_test_id("run-view")).to_be_visible()
    job_id = page.evaluate("() => new URLSearchParams(location.search).get('job') || ''") \
        or train_server.api("GET", "/jobs?limit=1")["data"][0]["id"]

    job = wait_job(train_server, job_id)
    assert job["state"] == "succeeded", job.get("error")
    assert job["config"]["standardize"] is True and job["config"]["epochs"] == 50
    accuracy = job["final_metrics"]["test_species/accuracy"]
    print(f"wine, 50 epochs from the UI: test accuracy {accuracy:.3f}")
    assert accuracy >= 0.9, job["final_metrics"]
    expect(page.get_by_test_id("run-state")).to_have_text("succeeded", timeout=30_000)
    expect(page.get_by_test_id("results-split")).to_contain_text("on the test split")
    events = train_server.api("GET", f"/jobs/{job_id}/events?limit=10000")
    logs = " ".join(e["payload"].get("message", "") for e in events if e["type"] == "log")
    assert "Standardized input 'features' (13 features of 'x')" in logs, logs


def test_the_dataset_page_lists_previews_renames_and_deletes(page: Any, train_server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    page.get_by_test_id("open-training").click()
    page.get_by_test_id("tab-datasets").click()
    expect(page.get_by_test_id("datasets-page")).to_be_visible()
    page.get_by_test_id("upload-file").set_input_files(str(write_wine(tmp_path / "wine-manager.csv")))
    page.get_by_test_id("upload-name").fill("wine for the manager")
    page.get_by_test_id("upload-submit").click()
    expect(page.get_by_test_id("datasets-table")).to_contain_text("wine for the manager")
    uploaded = next(d for d in train_server.api("GET", "/datasets?limit=200")["data"] if d["name"] == "wine for the manager")
    row = page.get_by_test_id(f"dataset-row-{uploaded['id']}")
    expect(row).to_contain_text("wine for the manager")
    expect(row).to_contain_text("csv")
    expect(row).to_contain_text("x (13,) features · y 3 classes")
    expect(row).to_contain_text("178")  # rows: 133 train + 45 test
    expect(row).to_contain_text("KiB")

    # The upload opens its preview: stratified samples, the target's decision.
    samples = page.get_by_test_id("dataset-samples")
    expect(samples).to_be_visible()
    expect(page.get_by_test_id("samples-note")).to_contain_text("picked class by class")
    labels = samples.locator(".lt-sample-label").all_inner_texts()
    assert labels[:3] == ["0", "1", "2"], labels
    expect(page.get_by_test_id("target-y")).to_contain_text("read as categorical")
    page.screenshot(path=str(ARTIFACTS / "datasets-page-light.png"), full_page=True)
    page.get_by_test_id("theme").click()
    page.wait_for_timeout(200)
    page.screenshot(path=str(ARTIFACTS / "datasets-page-dark.png"), full_page=True)
    page.get_by_test_id("theme").click()

    # Rename: blank cannot be saved; a real name is saved and shown.
    row.get_by_test_id("rename").click()
    field = row.get_by_test_id("rename-input")
    field.fill("   ")
    expect(row.get_by_test_id("rename-save")).to_be_disabled()
    field.fill("wine (renamed)")
    row.get_by_test_id("rename-save").click()
    expect(row.get_by_test_id("dataset-name")).to_have_text("wine (renamed)")
    assert train_server.api("GET", f"/datasets/{uploaded['id']}")["name"] == "wine (renamed)"

    # Delete asks first; keeping it changes nothing, confirming removes it.
    row.get_by_test_id("delete").click()
    expect(page.get_by_test_id("delete-confirm")).to_contain_text("Jobs that trained on it keep their results")
    page.get_by_test_id("delete-confirm-no").click()
    expect(page.get_by_test_id("delete-confirm")).to_have_count(0)
    assert train_server.api("GET", f"/datasets/{uploaded['id']}")["id"] == uploaded["id"]
    row.get_by_test_id("delete").click()
    page.get_by_test_id("delete-confirm-yes").click()
    expect(row).to_have_count(0)
    ids = [d["id"] for d in train_server.api("GET", "/datasets?limit=200")["data"]]
    assert uploaded["id"] not in ids
