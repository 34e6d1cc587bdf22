"""/docs and /redoc render in Chromium with every request to another host blocked: the pages need
nothing but the server itself."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from conftest import require_browser
from harness import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server


@pytest.fixture(scope="module")
def api_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    require_browser()
    data_dir = tmp_path_factory.mktemp("docs-data")
    proc, url = start_server(data_dir, data_dir / "server.log")
    try:
        yield url
    finally:
        stop_server(proc)


@pytest.fixture
def offline_page(playwright_driver: Any, api_url: str) -> Iterator[tuple[Any, list[str]]]:
    """A page whose requests to any host but the server's own are aborted (and recorded)."""
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    context = browser.new_context()
    blocked: list[str] = []
    own_host = urlparse(api_url).netloc

    def route(r: Any) -> None:
        if urlparse(r.request.url).netloc == own_host:
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    yield page, blocked
    context.close()
    browser.close()


def test_swagger_ui_lists_the_job_operations_offline(offline_page: tuple[Any, list[str]], api_url: str) -> None:
    from playwright.sync_api import expect

    page, blocked = offline_page
    page.goto(api_url + "/docs")
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Layerloom", timeout=15_000)
    jobs = page.locator(".opblock-tag-section", has=page.locator("[data-tag='jobs']"))
    expect(page.locator("[data-tag='jobs']")).to_be_visible()
    for path in ("/api/jobs", "/api/jobs/{job_id}/cancel", "/api/jobs/{job_id}/weights"):
        expect(page.locator(f".opblock-summary-path[data-path='{path}']").first).to_be_visible()
    assert jobs.count() >= 1
    assert not blocked, f"the page tried to reach other hosts: {blocked}"


def test_redoc_renders_offline(offline_page: tuple[Any, list[str]], api_url: str) -> None:
    from playwright.sync_api import expect

    page, blocked = offline_page
    page.goto(api_url + "/redoc")
    expect(page.get_by_text("Submit Job").first).to_be_attached(timeout=20_000)
    assert not blocked, f"the page tried to reach other hosts: {blocked}"
