"""End-to-end tests of "Train from the browser": real headless Chromium against a real
``layerloom serve`` WITH its supervised training worker (the editor's own fixtures run --no-worker).

Covers: template → built-in dataset → setup → Train → live chart gaining points while the job runs →
succeeded → download the safetensors and load them in PyTorch; digits CNN ≥ 95% validation accuracy;
cancel a long run; compare two runs; a malformed CSV upload shows its error and creates nothing; a
websocket dropped mid-run (closed from the server side through Playwright's websocket routing)
reconnects and leaves every point on the chart exactly once. Screenshots of the run view, light
and dark, go to tests/e2e/artifacts/.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import (
    ARTIFACTS,
    ROOT,
    Server,
    open_editor,
)


@pytest.fixture
def page(train_browser: Any, train_server: Server) -> Iterator[Any]:
    yield from open_editor(train_browser, train_server.url, timeout_ms=20_000)


# ---- helpers ------------------------------------------------------------------------------


def open_template(page: Any, name: str) -> None:
    from playwright.sync_api import expect

    page.get_by_test_id("templates").click()
    page.get_by_test_id(f"template-{name}").click()
    expect(page.get_by_test_id("templates-dialog")).to_have_count(0)


def setup_run(page: Any, dataset: str, epochs: int, log_every: int | None = None, batch: int | None = None,
              valsplit: str | None = None) -> None:
    from playwright.sync_api import expect

    page.get_by_test_id("open-training").click()
    page.get_by_test_id("dataset-select").select_option(dataset)
    expect(page.get_by_test_id("dataset-view")).to_be_visible()
    expect(page.get_by_test_id("mapping")).to_be_visible()
    page.get_by_test_id("cfg-epochs").fill(str(epochs))
    if log_every:
        page.get_by_test_id("cfg-log-every").fill(str(log_every))
    if batch:
        page.get_by_test_id("cfg-batch").fill(str(batch))
    if valsplit:
        page.get_by_test_id("cfg-valsplit").fill(valsplit)


def start_training(page: Any) -> str:
    from playwright.sync_api import expect

    page.get_by_test_id("train").click()
    expect(page.get_by_test_id("run-view")).to_be_visible()
    return page.evaluate("() => new URLSearchParams(location.search).get('job') || ''") or ""


def run_attrs(page: Any) -> dict[str, Any]:
    return page.evaluate("""() => {
        const run = document.querySelector('[data-testid=run-view]');
        const chart = document.querySelector('[data-testid=chart-loss]');
        return {state: run?.dataset.state, events: Number(run?.dataset.events || 0), maxSeq: Number(run?.dataset.maxSeq || 0),
                connects: Number(run?.dataset.connects || 0), points: Number(chart?.dataset.points || 0)};
    }""")


def wait_state(page: Any, states: tuple[str, ...], timeout: float = 180) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = run_attrs(page)["state"]
        if state in states:
            return state
        page.wait_for_timeout(200)
    raise AssertionError(f"the run did not reach {states} in {timeout}s (state {run_attrs(page)['state']})")


def latest_job(server: Server) -> dict[str, Any]:
    return server.api("GET", "/jobs?limit=1")["data"][0]


# ---- tests --------------------------------------------------------------------------------


def test_train_mlp_live_chart_and_download_weights(page: Any, train_server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    open_template(page, "seed-mlp")
    setup_run(page, "random_classification", epochs=5, log_every=1, batch=16)
    expect(page.get_by_test_id("map-select-x")).to_have_value("x")  # pre-filled by name
    expect(page.get_by_test_id("map-select-y")).to_have_value("y")
    expect(page.get_by_test_id("cfg-weight-y")).to_have_value("1")  # from the Output node
    start_training(page)

    seen: list[int] = []
    while True:
        a = run_attrs(page)
        if a["state"] in ("succeeded", "failed", "cancelled"):
            break
        if a["points"]:
            seen.append(a["points"])
        page.wait_for_timeout(100)
    assert len(set(seen)) >= 2 and seen[-1] > seen[0], f"the chart did not gain points while running: {seen[:20]}"
    expect(page.get_by_test_id("run-state")).to_have_text("succeeded")

    job = latest_job(train_server)
    events = train_server.api("GET", f"/jobs/{job['id']}/events?limit=10000")
    expected = sum(1 for e in events if e["type"] in ("step", "epoch"))
    expect(page.get_by_test_id("chart-loss")).to_have_attribute("data-points", str(expected))

    # Results and downloads.
    expect(page.get_by_test_id("confusion-y")).to_be_visible()
    expect(page.get_by_test_id("results-split")).to_contain_text("on the test split")
    expect(page.get_by_test_id("snippet")).to_contain_text("load_state_dict")
    with page.expect_download() as info:
        page.get_by_test_id("download-safetensors").click()
    weights = tmp_path / "weights.safetensors"
    info.value.save_as(weights)
    graph = train_server.api("GET", f"/jobs/{job['id']}/graph")
    import safetensors.torch
    from layerloom.graph import analyze, build_model

    model = build_model(analyze(graph))
    missing = model.load_state_dict(safetensors.torch.load_file(str(weights)))
    assert not missing.missing_keys and not missing.unexpected_keys

    # The run view in both themes, for a look.
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "training-run-light.png"), full_page=False)
    page.get_by_test_id("theme").click()
    page.wait_for_timeout(300)
    page.get_by_test_id("tab-setup").click()
    page.get_by_test_id("tab-run").click()
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "training-run-dark.png"), full_page=False)


def test_hardware_and_data_loading_from_the_setup_page(page: Any, train_server: Server) -> None:
    """Two data-parallel processes (gloo on this CPU), bfloat16 autocast and streamed batches, all
    chosen in the form: the job gets them in its config and trains."""
    from playwright.sync_api import expect

    open_template(page, "seed-mlp")
    setup_run(page, "random_classification", epochs=2, batch=32)
    page.get_by_test_id("cfg-hardware").locator("summary").click()
    page.get_by_test_id("cfg-processes").fill("1.5")
    expect(page.get_by_test_id("cfg-hardware")).to_contain_text("A whole number.")
    page.get_by_test_id("cfg-processes").fill("2")
    page.get_by_test_id("cfg-precision").select_option("bfloat16")
    page.get_by_test_id("cfg-data-loading").select_option("stream")
    start_training(page)
    assert wait_state(page, ("succeeded", "failed", "cancelled")) == "succeeded"
    job = latest_job(train_server)
    config = train_server.api("GET", f"/jobs/{job['id']}")["effective_config"]  # with the defaults filled in
    assert config["distributed"]["nproc_per_node"] == 2 and config["data_loading"] == "stream"
    assert config["amp"] is True and config["amp_dtype"] == "bfloat16"
    logs = [e["payload"].get("message", "") for e in train_server.api("GET", f"/jobs/{job['id']}/events?limit=10000")
            if e["type"] == "log"]
    assert any("Streaming the data" in m for m in logs), logs


def test_digits_cnn_reaches_95_percent(page: Any, train_server: Server) -> None:
    from playwright.sync_api import expect

    open_template(page, "digits-cnn")
    setup_run(page, "digits", epochs=12)
    start_training(page)
    assert wait_state(page, ("succeeded", "failed", "cancelled"), timeout=240) == "succeeded"
    chart = page.get_by_test_id("chart-accuracy")
    expect(chart).to_have_attribute("data-last", re.compile("val_y/accuracy"))
    last = json.loads(chart.get_attribute("data-last"))
    assert last["val_y/accuracy"] >= 0.95, last


def test_cancel_a_long_run(page: Any, train_server: Server) -> None:
    from playwright.sync_api import expect

    open_template(page, "seed-mlp")
    setup_run(page, "random_classification", epochs=2000)
    start_training(page)
    wait_state(page, ("running",), timeout=60)
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("run-state")).to_have_text("cancelled", timeout=60_000)
    assert latest_job(train_server)["state"] == "cancelled"


def test_compare_two_runs(page: Any, train_server: Server) -> None:
    from playwright.sync_api import expect

    done = train_server.api("GET", "/jobs?state=succeeded")["data"]
    while len(done) < 2:  # when run alone: make two quick runs through the API
        graph = json.loads((ROOT / "examples" / "seed_mlp.json").read_text())
        job = train_server.api("POST", "/jobs", {"graph": graph, "dataset": "random_classification", "config": {"epochs": 2}})
        for _ in range(240):
            if train_server.api("GET", f"/jobs/{job['id']}")["state"] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.5)
        done = train_server.api("GET", "/jobs?state=succeeded")["data"]
    a, b = done[0]["id"], done[1]["id"]
    page.get_by_test_id("open-jobs").click()
    page.get_by_test_id(f"select-{a}").check()
    page.get_by_test_id(f"select-{b}").check()
    chart = page.get_by_test_id("compare-chart")
    expect(chart).to_have_attribute("data-last", re.compile(b))
    last = json.loads(chart.get_attribute("data-last"))
    assert set(last) == {a, b} and all(v is not None for v in last.values()), last
    page.get_by_test_id("compare-metric").select_option("loss")
    expect(chart).to_have_attribute("data-runs", "2")
    # The Best column: the best epoch by the monitored metric (val_loss: these runs have validation), with its number.
    best = train_server.api("GET", f"/jobs/{a}")["best"]
    expect(page.get_by_test_id(f"best-{a}")).to_have_text(re.compile(rf"^val_loss \S+ @ epoch {best['epoch']}$"))


def test_malformed_csv_upload_shows_error_and_creates_nothing(page: Any, train_server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    before = train_server.api("GET", "/datasets")["count"]
    bad = tmp_path / "broken.csv"
    bad.write_text("a,b,label\n1,2,0\nnot-a-number,3,1\n4,5\n")
    page.get_by_test_id("open-training").click()
    page.get_by_test_id("upload-file").set_input_files(str(bad))
    expect(page.get_by_test_id("csv-columns")).to_be_visible()
    expect(page.get_by_test_id("csv-target")).to_have_value("label")
    page.get_by_test_id("upload-submit").click()
    error = page.get_by_test_id("upload-error")
    expect(error).to_be_visible()
    assert len(error.inner_text().strip()) > 10
    assert train_server.api("GET", "/datasets")["count"] == before


def test_dropped_websocket_reconnects_without_losing_or_duplicating_points(page: Any, train_server: Server) -> None:
    from playwright.sync_api import expect

    state = {"connections": 0, "forwarded": 0, "dropped": False}

    def handler(ws: Any) -> None:
        state["connections"] += 1
        server = ws.connect_to_server()
        if state["connections"] > 1:
            return  # later connections: forwarded untouched

        def from_server(message: Any) -> None:
            if state["dropped"]:
                return
            ws.send(message)
            state["forwarded"] += 1
            if state["forwarded"] >= 15:  # mid-run: the "server" drops the connection
                state["dropped"] = True
                ws.close(code=1011, reason="dropped by the test")
                server.close()

        server.on_message(from_server)

    page.route_web_socket(re.compile(r"/api/jobs/[^/]+/events"), handler)
    open_template(page, "seed-mlp")
    setup_run(page, "random_classification", epochs=5, log_every=1, batch=16)
    start_training(page)
    assert wait_state(page, ("succeeded", "failed"), timeout=180) == "succeeded"
    assert state["dropped"], "the test never dropped the connection"

    job = latest_job(train_server)
    events = train_server.api("GET", f"/jobs/{job['id']}/events?limit=10000")
    expected_points = sum(1 for e in events if e["type"] in ("step", "epoch"))
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and run_attrs(page)["events"] < len(events):
        page.wait_for_timeout(100)
    a = run_attrs(page)
    assert a["connects"] >= 2 and state["connections"] >= 2, (a, state)
    assert a["events"] == len(events) == a["maxSeq"], (a, len(events))  # every event once
    expect(page.get_by_test_id("chart-loss")).to_have_attribute("data-points", str(expected_points))


def test_a_csv_without_a_split_starts_with_a_held_out_validation_split(page: Any, train_server: Server, tmp_path: Path) -> None:
    from playwright.sync_api import expect

    table = tmp_path / "no-split.csv"
    table.write_text("a,b,label\n" + "".join(f"{i},{i % 7},{i % 2}\n" for i in range(60)))
    page.get_by_test_id("open-training").click()
    page.get_by_test_id("upload-file").set_input_files(str(table))
    expect(page.get_by_test_id("csv-target")).to_have_value("label")
    page.get_by_test_id("upload-submit").click()
    expect(page.get_by_test_id("dataset-view")).to_be_visible()
    expect(page.get_by_test_id("cfg-valsplit")).to_have_value("0.2")
    expect(page.get_by_test_id("holdout-note")).to_contain_text("20% of train held out")
    page.get_by_test_id("cfg-valsplit").fill("0")  # changeable; the form then says what that means
    expect(page.get_by_test_id("holdout-note")).to_contain_text("training rows")
