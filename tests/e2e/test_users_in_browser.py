"""Users in the browser (issue 13), Chromium against real `layerloom serve` processes.

Token mode: log in on the login page, create an API token on the settings page (it works as a
bearer token), log out; a second user sees none of the first user's graphs, datasets or jobs.
Local mode: a page served from another origin auto-submits a multipart upload form to the server;
the request arrives and is refused, and nothing is stored.
"""

from __future__ import annotations

import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from conftest import require_browser
from harness import ROOT, Server, ci, free_port, server_env, start_server, stop_server

try:
    from playwright.sync_api import expect
except ImportError:
    if ci():
        raise
    pytest.skip("the playwright Python package is missing (pip install playwright)", allow_module_level=True)

SEED = json.loads((ROOT / "examples" / "seed_mlp.json").read_text())
PASSWORDS = {"alice": "alice password 1", "bob": "bob password 22", "root": "root password 333"}
CSV = b"a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n7,8,dog\n"


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    require_browser()
    data_dir = tmp_path_factory.mktemp("layerloom-token")
    # No worker runs: submitted jobs stay queued, and one queued job is alice's quota.
    env = server_env(data_dir, LAYERLOOM_AUTH_MODE="token", LAYERLOOM_QUOTA_MAX_QUEUED_JOBS="1")
    for name, password in PASSWORDS.items():
        admin = ["--admin"] if name == "root" else []
        subprocess.run([sys.executable, "-m", "layerloom.cli", "user", "create", name, *admin, "--password-stdin"],
                       input=password + "\n", text=True, env=env, cwd=ROOT, check=True, capture_output=True,
                       timeout=120)
    proc, url = start_server(data_dir, data_dir / "server.log", env=env)
    try:
        yield Server(url, data_dir)
    finally:
        stop_server(proc)


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    errors: list[str] = []
    context.on("weberror", lambda err: errors.append(str(err.error)))
    yield context
    context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def log_in(context: Any, url: str, name: str) -> Any:
    page = context.new_page()
    page.goto(url + "/")
    expect(page.get_by_test_id("login-form")).to_be_visible()
    page.get_by_test_id("login-user").fill(name)
    page.get_by_test_id("login-password").fill(PASSWORDS[name])
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("palette-Dense")).to_be_visible()
    expect(page.get_by_test_id("account")).to_have_text(name)
    return page


def test_log_in_create_a_token_and_log_out(context: Any, token_server: Server, artifacts: Path) -> None:
    page = context.new_page()
    page.goto(token_server.url + "/")
    page.get_by_test_id("login-user").fill("alice")
    page.get_by_test_id("login-password").fill("not the password")
    page.get_by_test_id("login-submit").click()
    expect(page.get_by_test_id("login-error")).to_have_text("Wrong user name or password.")
    page.screenshot(path=str(artifacts / "login.png"))
    page.close()

    page = log_in(context, token_server.url, "alice")
    cookie = next(c for c in context.cookies() if c["name"] == "layerloom_session")
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # HttpOnly: no script can read it

    page.get_by_test_id("account").click()
    expect(page.get_by_test_id("settings-user")).to_have_text("alice")
    expect(page.get_by_test_id("quota-max_running_jobs")).to_contain_text("no limit")
    page.get_by_test_id("token-name").fill("laptop")
    page.get_by_test_id("token-create").click()
    token = page.get_by_test_id("token-value").inner_text().strip()
    assert token.startswith("ll_")
    expect(page.get_by_test_id("token-row")).to_have_count(1)
    me = httpx.get(token_server.url + "/api/me", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert me.status_code == 200 and me.json()["name"] == "alice"

    page.get_by_test_id("logout").click()
    expect(page.get_by_test_id("login-form")).to_be_visible()
    assert not [c for c in context.cookies() if c["name"] == "layerloom_session"]
    page.reload()
    expect(page.get_by_test_id("login-form")).to_be_visible()  # logged out for good, not just hidden
    status = page.evaluate("fetch('/api/graphs').then(r => r.status)")
    assert status == 401


def test_a_second_user_sees_none_of_the_first_users_graphs_datasets_or_jobs(
        browser: Any, token_server: Server) -> None:
    # Alice's things, made through the API with her own login.
    alice_api = httpx.Client(base_url=token_server.url, timeout=60, headers={"X-Layerloom-Client": "test"})
    assert alice_api.post("/api/session", json={"username": "alice", "password": PASSWORDS["alice"]}).status_code == 204
    graph = alice_api.post("/api/graphs", json={"name": "alice-secret-graph", "document": SEED})
    assert graph.status_code == 201, graph.text
    dataset = alice_api.post("/api/datasets", files={"file": ("alice-secret-data.csv", CSV)})
    assert dataset.status_code == 201, dataset.text
    job = alice_api.post("/api/jobs", json={"graph_id": graph.json()["graph"]["id"], "dataset": "random_classification"})
    assert job.status_code == 201, job.text
    job_id = job.json()["id"]

    def look(name: str) -> tuple[bool, bool, bool]:
        context = browser.new_context(viewport={"width": 1440, "height": 900})
        context.set_default_timeout(15_000)
        try:
            page = log_in(context, token_server.url, name)

            def listed(path: str):  # the list's answer has come (the views show no loading state)
                return page.expect_response(lambda r: r.url.split("?")[0] == token_server.url + path
                                            and r.request.method == "GET" and r.ok)

            def shown(test_id: str) -> bool:
                page.wait_for_timeout(300)  # the answer rendered
                return page.get_by_test_id(test_id).count() == 1

            with listed("/api/graphs"):
                page.get_by_test_id("open").click()
            sees_graph = shown("open-graph-alice-secret-graph")
            page.keyboard.press("Escape")
            page.get_by_test_id("open-training").click()
            select = page.get_by_test_id("dataset-select")
            expect(select.locator("option", has_text="random_classification")).to_have_count(1)  # the list is loaded
            sees_dataset = select.locator("option", has_text="alice-secret-data").count() == 1
            with listed("/api/jobs"):
                page.get_by_test_id("open-jobs").click()
            sees_job = shown(f"job-{job_id}")
            return sees_graph, sees_dataset, sees_job
        finally:
            context.close()

    assert look("alice") == (True, True, True)  # the same views do show them to their owner
    assert look("bob") == (False, False, False)


def api_login(server: Server, name: str) -> httpx.Client:
    client = httpx.Client(base_url=server.url, timeout=60, headers={"X-Layerloom-Client": "test"})
    assert client.post("/api/session", json={"username": name, "password": PASSWORDS[name]}).status_code == 204
    return client


def test_a_job_over_the_queued_quota_is_refused_with_a_line_naming_it(context: Any, token_server: Server) -> None:
    alice_api = api_login(token_server, "alice")
    queued = alice_api.post("/api/jobs", json={"graph": SEED, "dataset": "random_classification"})
    assert queued.status_code in (201, 429)  # 429: the other test's job already holds the quota
    graphs_before = alice_api.get("/api/graphs").json()["count"]
    page = log_in(context, token_server.url, "alice")
    page.get_by_test_id("templates").click()
    page.get_by_test_id("template-seed-mlp").click()
    page.get_by_test_id("open-training").click()
    page.get_by_test_id("dataset-select").select_option("random_classification")
    expect(page.get_by_test_id("mapping")).to_be_visible()
    page.get_by_test_id("train").click()
    line = page.get_by_test_id("submit-problems")
    expect(line).to_contain_text("max_queued_jobs")
    expect(line).to_contain_text("the limit is 1, you use 1")
    assert alice_api.get("/api/graphs").json()["count"] == graphs_before  # checked before saving: no new graph
    page.get_by_test_id("back-to-editor").click()
    page.get_by_test_id("account").click()
    expect(page.get_by_test_id("quota-max_queued_jobs")).to_contain_text("1 of 1 jobs")


def test_an_admin_disables_a_user_on_the_settings_page(context: Any, token_server: Server, artifacts: Path) -> None:
    bob_api = api_login(token_server, "bob")
    page = log_in(context, token_server.url, "root")
    page.get_by_test_id("account").click()
    users = page.get_by_test_id("admin-users")
    expect(users.get_by_test_id("user-alice")).to_be_visible()
    page.get_by_test_id("settings").screenshot(path=str(artifacts / "settings-admin.png"))
    expect(users.get_by_test_id("user-toggle-root")).to_have_count(0)  # not oneself
    users.get_by_test_id("user-toggle-bob").click()
    expect(users.get_by_test_id("user-toggle-bob")).to_have_text("Enable")
    expect(users.get_by_test_id("user-bob")).to_contain_text("disabled")
    assert bob_api.get("/api/me").status_code == 401  # at once
    users.get_by_test_id("user-toggle-bob").click()
    expect(users.get_by_test_id("user-toggle-bob")).to_have_text("Disable")
    assert api_login(token_server, "bob").get("/api/me").json()["name"] == "bob"


def test_an_admin_gives_a_user_their_own_quotas_and_the_user_sees_them(browser: Any, context: Any,
                                                                       token_server: Server, artifacts: Path) -> None:
    bob_api = api_login(token_server, "bob")
    limits = lambda: {q["name"]: q["limit"] for q in bob_api.get("/api/quotas").json()}  # noqa: E731
    page = log_in(context, token_server.url, "root")
    page.get_by_test_id("account").click()
    users = page.get_by_test_id("admin-users")
    users.get_by_test_id("user-quotas-bob").click()
    editor = users.get_by_test_id("quota-editor-bob")
    editor.get_by_test_id("quota-input-max_running_jobs").fill("2.5")
    editor.get_by_test_id("quota-save").click()
    expect(editor.get_by_test_id("quota-error")).to_have_text("jobs running at once: give a whole number of jobs.")
    assert limits()["max_running_jobs"] == 0  # nothing was sent

    editor.get_by_test_id("quota-input-max_running_jobs").fill("2")
    editor.get_by_test_id("quota-input-max_stored_bytes").fill("5")
    editor.get_by_test_id("quota-save").click()
    expect(users.get_by_test_id("user-quotas-bob")).to_have_text("Quotas (2 set)")
    expect(editor.get_by_test_id("quota-now-max_running_jobs")).to_have_text("now 0 of 2 jobs")
    expect(editor.get_by_test_id("quota-input-max_stored_bytes")).to_have_value("5")
    page.get_by_test_id("settings").screenshot(path=str(artifacts / "settings-admin-quotas.png"))
    assert limits()["max_running_jobs"] == 2 and limits()["max_stored_bytes"] == 5 * 1024 * 1024

    bobs = browser.new_context(viewport={"width": 1440, "height": 900})  # bob's own cookies
    bobs.set_default_timeout(15_000)
    try:
        bob_page = log_in(bobs, token_server.url, "bob")  # the user sees the limit set for them
        bob_page.get_by_test_id("account").click()
        expect(bob_page.get_by_test_id("quota-max_running_jobs")).to_contain_text("0 of 2 jobs")
        expect(bob_page.get_by_test_id("quota-max_stored_bytes")).to_contain_text("of 5.0 MB")
    finally:
        bobs.close()

    editor.get_by_test_id("quota-input-max_running_jobs").fill("")  # empty: the server's setting again
    editor.get_by_test_id("quota-input-max_stored_bytes").fill("")
    editor.get_by_test_id("quota-save").click()
    expect(users.get_by_test_id("user-quotas-bob")).to_have_text("Quotas")
    assert limits()["max_running_jobs"] == 0 and limits()["max_stored_bytes"] == 0


def test_a_user_who_is_not_an_admin_has_no_admin_section(context: Any, token_server: Server) -> None:
    page = log_in(context, token_server.url, "bob")
    page.get_by_test_id("account").click()
    expect(page.get_by_test_id("tokens")).to_be_visible()
    expect(page.get_by_test_id("admin-users")).to_have_count(0)
    assert page.evaluate("fetch('/api/admin/users').then(r => r.status)") == 404


# ---- local mode: a hostile page on another origin -------------------------------------------


HOSTILE_PAGE = """<!doctype html>
<html><body>
<form id="f" method="POST" enctype="multipart/form-data" action="{target}">
  <input type="file" name="file" id="file">
  <input type="hidden" name="name" value="hostile-upload">
</form>
<script>
  // A file input cannot be set by a page's script, except through DataTransfer (Chromium allows it).
  const data = new DataTransfer();
  data.items.add(new File(["a,b,label\\n1,2,cat\\n3,4,dog\\n"], "evil.csv", {{type: "text/csv"}}));
  document.getElementById("file").files = data.files;
  document.getElementById("f").submit();
</script>
</body></html>
"""


@pytest.fixture
def hostile_origin(server: Server) -> Iterator[str]:
    """A tiny web server on another loopback port: another origin, as any web page the user opens."""
    page = HOSTILE_PAGE.format(target=server.url + "/api/datasets").encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def uploads(server: Server) -> list[dict[str, Any]]:
    listed = httpx.get(server.url + "/api/datasets", params={"limit": 200}, timeout=30).json()["data"]
    return [d for d in listed if d["kind"] != "builtin"]


def stored_dataset_dirs(server: Server) -> set[Path]:
    folder = Path(server.data_dir) / "datasets"
    return set(folder.iterdir()) if folder.is_dir() else set()


def test_a_page_on_another_origin_cannot_upload_to_a_local_server(browser: Any, server: Server,
                                                                  hostile_origin: str) -> None:
    before, dirs_before = uploads(server), stored_dataset_dirs(server)
    context = browser.new_context()
    try:
        page = context.new_page()
        with page.expect_response(lambda r: r.url == server.url + "/api/datasets"
                                  and r.request.method == "POST", timeout=30_000) as answer:
            page.goto(hostile_origin + "/")
        response = answer.value
        # The browser did send it (with its Origin), and the server refused it before any route ran.
        assert response.request.headers.get("origin") == hostile_origin
        assert response.status == 403 and response.json()["errors"][0]["code"] == "cross_site_request"
    finally:
        context.close()
    assert uploads(server) == before and not [d for d in uploads(server) if d["name"] == "hostile-upload"]
    assert stored_dataset_dirs(server) == dirs_before
