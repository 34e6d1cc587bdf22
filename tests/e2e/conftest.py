"""End-to-end fixtures: the real backend (``layerloom serve --no-worker``, which migrates a fresh
SQLite database and serves the API and the built editor) in a subprocess on a free port with a
temporary data directory, and Debian's Chromium driven by Python Playwright.

The tests are skipped only when /usr/bin/chromium is missing and CI is unset; with CI set they fail.
The editor must be built first (``npm --prefix frontend ci && npm --prefix frontend run build``);
when ``frontend/dist`` is missing and npm is available, the fixture builds it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from harness import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    BuildMissing,
    Server,
    ci,
    ensure_built,
    open_editor,
    start_server,
    stop_server,
)


@pytest.fixture(scope="session")
def browser_required() -> None:
    """Skip (locally) or fail (CI) when Chromium or Playwright is missing."""
    require_browser()


def require_browser() -> None:
    if not Path(CHROMIUM).exists():
        if ci():
            pytest.fail(f"{CHROMIUM} is missing and CI is set (apt-get install -y chromium)")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install -y chromium); set CI to make this a failure")
    try:
        import playwright  # noqa: F401
    except ImportError:
        if ci():
            pytest.fail("the playwright package is missing and CI is set (pip install playwright)")
        pytest.skip("the playwright Python package is missing (pip install playwright)")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_browser()
    try:
        ensure_built()
    except BuildMissing as err:
        pytest.fail(str(err))
    data_dir = tmp_path_factory.mktemp("layerloom-data")
    proc, url = start_server(data_dir, data_dir / "server.log")
    try:
        yield Server(url, data_dir)
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def playwright_driver() -> Iterator[Any]:
    """One Playwright driver per test process (the sync API cannot run two at once): modules that
    need another browser or server launch it from this driver."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="session")
def browser(playwright_driver: Any, server: Server) -> Iterator[Any]:
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture
def page(browser: Any, server: Server) -> Iterator[Any]:
    yield from open_editor(browser, server.url)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """On a failure, keep a screenshot of the page under artifacts/failures/ to see what went wrong."""
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed and "page" in getattr(item, "funcargs", {}):
        try:
            path = ARTIFACTS / "failures" / f"{item.name}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            item.funcargs["page"].screenshot(path=str(path))
        except Exception:  # the page may be gone; the report matters more
            pass
