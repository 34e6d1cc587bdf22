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


def _serve(tmp_path_factory: pytest.TempPathFactory, name: str, with_worker: bool) -> Iterator[Server]:
    """The built editor and a real ``layerloom serve`` on a temporary data directory, stopped after."""
    require_browser()
    try:
        ensure_built()
    except BuildMissing as err:
        pytest.fail(str(err))
    data_dir = tmp_path_factory.mktemp(name)
    proc, url = start_server(data_dir, data_dir / "server.log", with_worker=with_worker)
    try:
        yield Server(url, data_dir)
    finally:
        stop_server(proc)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """The editor's server: no training worker (the editor does not train)."""
    yield from _serve(tmp_path_factory, "layerloom-data", with_worker=False)


@pytest.fixture(scope="module")
def train_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server with its training worker, for the modules that train."""
    yield from _serve(tmp_path_factory, "layerloom-train", with_worker=True)


@pytest.fixture(scope="module")
def playwright_driver() -> Iterator[Any]:
    """One Playwright driver per test module (the sync API cannot run two at once): modules that need
    another browser or server launch it from this driver. Not per session: while it lives, the sync
    API keeps an asyncio loop running in the thread, and other tests of the same xdist worker call
    asyncio.run (pytest tears a module's fixtures down before a test of another module runs)."""
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        yield p


def _launch(playwright_driver: Any) -> Iterator[Any]:
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def browser(playwright_driver: Any, server: Server) -> Iterator[Any]:
    yield from _launch(playwright_driver)


@pytest.fixture(scope="module")
def train_browser(playwright_driver: Any, train_server: Server) -> Iterator[Any]:
    # From the session's one driver: the sync API cannot run two in one process.
    yield from _launch(playwright_driver)


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
