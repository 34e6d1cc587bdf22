"""Users in token mode (issue 13): login with a password, the session cookie, tokens made and
revoked through /api/tokens, the admin role, disabling, the login rate limit, the cookie's CSRF
checks, and the per-user quotas with their refusals. On SQLite and PostgreSQL (the fixtures)."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from layerloom.api import auth
from layerloom.api.deps import SESSION_COOKIE
from layerloom.jobs import lifecycle
from layerloom.jobs.supervisor import QUOTA_RECHECK_SECONDS, run_job
from layerloom.store.models import ApiToken, Dataset, Job, JobState, UserSession

SEED = json.loads((Path(__file__).parents[2] / "examples" / "seed_mlp.json").read_text())
CSV = b"a,b,label\n1,2,cat\n3,4,dog\n5,6,cat\n7,8,dog\n"
PASSWORD = "correct horse battery"
CLIENT = {"X-Layerloom-Client": "test"}


def make_user(app: FastAPI, name: str, password: str = PASSWORD, admin: bool = False) -> str:
    with app.state.sessionmaker() as session:
        user = auth.get_or_create_user(session, name)
        user.password_hash = auth.hash_password(password)
        user.is_admin = admin
        session.commit()
        return user.id


def logged_in(app: FastAPI, name: str, base_url: str = "http://testserver") -> TestClient:
    client = TestClient(app, base_url=base_url, headers=CLIENT)
    response = client.post("/api/session", json={"username": name, "password": PASSWORD})
    assert response.status_code == 204, response.text
    return client


def set_cookie_header(response) -> str:
    return next(v for k, v in response.headers.multi_items() if k.lower() == "set-cookie")


def submit(client: TestClient):
    return client.post("/api/jobs", json={"graph": SEED, "dataset": "random_classification"})


def record_dispatches(app: FastAPI) -> list[tuple[str, str]]:
    """Dispatches are recorded instead of sent: no worker runs in these tests."""
    sent: list[tuple[str, str]] = []
    app.state.dispatch = lambda job_id, token, queue="default": sent.append((job_id, token))
    return sent


# ---- login, cookie, logout ----------------------------------------------------------------


def test_login_sets_a_strict_httponly_cookie_that_authenticates_and_logout_ends_it(app: FastAPI) -> None:
    make_user(app, "alice")
    client = TestClient(app, headers=CLIENT)
    assert client.get("/api/me").status_code == 401
    response = client.post("/api/session", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 204
    cookie = set_cookie_header(response)
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain http: a Secure cookie would never come back
    me = client.get("/api/me")
    assert me.status_code == 200 and me.json()["name"] == "alice" and me.json()["is_admin"] is False
    value = client.cookies[SESSION_COOKIE]
    with app.state.sessionmaker() as session:  # only the hash is stored
        hashes = session.scalars(select(UserSession.token_hash)).all()
    assert hashes == [auth.hash_token(value)] and value not in hashes
    assert client.delete("/api/session").status_code == 204
    client.cookies.set(SESSION_COOKIE, value)  # a copy of the old cookie is dead too
    assert client.get("/api/me").status_code == 401


def test_the_cookie_is_secure_over_https(app: FastAPI) -> None:
    make_user(app, "alice")
    client = TestClient(app, base_url="https://testserver", headers=CLIENT)
    response = client.post("/api/session", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 204 and "Secure" in set_cookie_header(response)


def test_a_wrong_password_or_unknown_user_is_the_same_401(app: FastAPI) -> None:
    make_user(app, "alice")
    client = TestClient(app, headers=CLIENT)
    wrong = client.post("/api/session", json={"username": "alice", "password": "not it at all"})
    unknown = client.post("/api/session", json={"username": "nobody", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"] == "Wrong user name or password."
    assert SESSION_COOKIE not in client.cookies


def test_failed_logins_are_rate_limited_per_user_name(make_app) -> None:
    app = make_app(login_max_failures_per_user=3, login_max_failures_per_address=100)
    make_user(app, "alice")
    client = TestClient(app, headers=CLIENT)
    for _ in range(3):
        assert client.post("/api/session", json={"username": "alice", "password": "guess-guess"}).status_code == 401
    refused = client.post("/api/session", json={"username": "alice", "password": PASSWORD})  # even the right one
    assert refused.status_code == 429 and 1 <= int(refused.headers["Retry-After"]) <= 300
    assert "Too many failed logins" in refused.json()["detail"]
    make_user(app, "bob")  # another name from the same address is not locked out
    assert client.post("/api/session", json={"username": "bob", "password": PASSWORD}).status_code == 204


def test_failed_logins_are_rate_limited_per_client_address(make_app) -> None:
    app = make_app(login_max_failures_per_user=100, login_max_failures_per_address=4)
    make_user(app, "alice")
    client = TestClient(app, headers=CLIENT)
    for i in range(4):  # a different name each time: only the address counts them together
        assert client.post("/api/session", json={"username": f"u{i}", "password": "guess-guess"}).status_code == 401
    refused = client.post("/api/session", json={"username": "alice", "password": PASSWORD})
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1


# ---- the cookie's CSRF checks -------------------------------------------------------------


def test_cookie_requests_from_another_site_are_refused(app: FastAPI) -> None:
    make_user(app, "alice")
    client = logged_in(app, "alice")
    evil = client.post("/api/tokens", json={"name": "x"}, headers={"Origin": "https://evil.example"})
    assert evil.status_code == 403 and evil.json()["errors"][0]["code"] == "cross_site_request"
    cross = client.post("/api/tokens", json={"name": "x"}, headers={"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    # A plain form could send this upload: without the client header it is refused.
    form = TestClient(app, cookies=dict(client.cookies)).post("/api/datasets", files={"file": ("a.csv", CSV)})
    assert form.status_code == 403 and form.json()["errors"][0]["code"] == "client_header_required"
    same = client.post("/api/tokens", json={"name": "x"},
                       headers={"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"})
    assert same.status_code == 201
    with app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(ApiToken)) == 1
        assert session.scalar(select(func.count()).select_from(Dataset)) == 0


# ---- tokens -------------------------------------------------------------------------------


def test_tokens_are_created_shown_once_listed_without_secrets_and_revoked(app: FastAPI) -> None:
    make_user(app, "alice")
    client = logged_in(app, "alice")
    created = client.post("/api/tokens", json={"name": "laptop"})
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith(auth.TOKEN_PREFIX)
    bearer = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    assert bearer.get("/api/me").json()["name"] == "alice"
    listed = client.get("/api/tokens").json()
    assert [t["name"] for t in listed] == ["laptop"] and listed[0]["last_used_at"] is not None
    assert token not in json.dumps(listed) and "token" not in listed[0]
    with app.state.sessionmaker() as session:
        assert session.scalars(select(ApiToken.token_hash)).all() == [auth.hash_token(token)]
    # Another user can neither see nor revoke it.
    make_user(app, "bob")
    bob = logged_in(app, "bob")
    assert bob.get("/api/tokens").json() == []
    assert bob.delete(f"/api/tokens/{created.json()['id']}").status_code == 404
    assert bearer.get("/api/me").status_code == 200
    assert client.delete(f"/api/tokens/{created.json()['id']}").status_code == 204
    assert bearer.get("/api/me").status_code == 401
    assert client.get("/api/tokens").json() == []


# ---- admin and disabled users -------------------------------------------------------------


def test_admins_list_and_disable_users_and_a_disabled_user_stops_at_once(app: FastAPI) -> None:
    make_user(app, "root", admin=True)
    alice_id = make_user(app, "alice")
    admin = logged_in(app, "root")
    alice = logged_in(app, "alice")
    token = alice.post("/api/tokens", json={"name": "ci"}).json()["token"]
    bearer = TestClient(app, headers={"Authorization": f"Bearer {token}"})
    # Not an admin: every admin route is a 404, as for anything not yours.
    for path in ("/api/admin/users", "/api/admin/queue", "/api/admin/workers", "/api/admin/jobs/running"):
        assert alice.get(path).status_code == 404
    assert alice.patch(f"/api/admin/users/{alice_id}", json={"disabled": True}).status_code == 404
    users = admin.get("/api/admin/users").json()
    assert [(u["name"], u["is_admin"], u["disabled"]) for u in users] == [("alice", False, False), ("root", True, False)]
    assert admin.get("/api/admin/queue").status_code == 200  # the role counts for the operator routes

    changed = admin.patch(f"/api/admin/users/{alice_id}", json={"disabled": True})
    assert changed.status_code == 200 and changed.json()["disabled"] is True
    assert alice.get("/api/me").status_code == 401  # her session, at once
    assert bearer.get("/api/me").status_code == 401  # her token, at once
    again = TestClient(app, headers=CLIENT).post("/api/session", json={"username": "alice", "password": PASSWORD})
    assert again.status_code == 401
    assert admin.patch(f"/api/admin/users/{alice_id}", json={"disabled": False}).json()["disabled"] is False
    assert bearer.get("/api/me").status_code == 200  # enabled again: the token works again
    mine = admin.get("/api/me").json()["id"]
    assert admin.patch(f"/api/admin/users/{mine}", json={"disabled": True}).status_code == 409
    assert admin.patch("/api/admin/users/no-such-user", json={"disabled": True}).status_code == 404


def test_admin_users_setting_still_makes_admins(make_app) -> None:
    app = make_app(admin_users="ops")
    make_user(app, "ops")
    assert logged_in(app, "ops").get("/api/admin/users").status_code == 200


def test_the_cli_creates_admins_from_stdin_and_disables_users(migrated_url, data_dir, monkeypatch,
                                                               capsys, make_app) -> None:
    from layerloom.cli import main
    from layerloom.settings import get_settings

    monkeypatch.setenv("LAYERLOOM_DATABASE_URL", migrated_url)
    monkeypatch.setenv("LAYERLOOM_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    try:
        monkeypatch.setattr(sys, "stdin", _Stdin(PASSWORD + "\n"))
        assert main(["user", "create", "carol", "--admin", "--password-stdin"]) == 0
        monkeypatch.setattr(sys, "stdin", _Stdin("short\n"))
        assert main(["user", "create", "dave", "--password-stdin"]) == 2  # too short: refused
        assert PASSWORD not in capsys.readouterr().out  # never echoed
        app = make_app()
        carol = logged_in(app, "carol")
        assert carol.get("/api/me").json()["is_admin"] is True
        assert main(["user", "list"]) == 0
        assert "carol\tadmin, password" in capsys.readouterr().out
        assert main(["user", "disable", "carol"]) == 0
        assert carol.get("/api/me").status_code == 401
        assert main(["user", "disable", "nobody"]) == 1
    finally:
        get_settings.cache_clear()


class _Stdin:
    def __init__(self, text: str) -> None:
        self.text = text

    def isatty(self) -> bool:
        return False

    def readline(self) -> str:
        return self.text


# ---- quotas -------------------------------------------------------------------------------


def test_me_shows_each_quota_with_its_use_and_admin_overrides(make_app) -> None:
    app = make_app(quota_max_queued_jobs=5, quota_max_datasets=3)
    dispatched = record_dispatches(app)
    make_user(app, "root", admin=True)
    alice_id = make_user(app, "alice")
    alice = logged_in(app, "alice")
    assert submit(alice).status_code == 201
    quotas = {q["name"]: q for q in alice.get("/api/me").json()["quotas"]}
    assert set(quotas) == {"max_running_jobs", "max_queued_jobs", "max_stored_bytes", "max_datasets", "max_job_seconds"}
    assert (quotas["max_queued_jobs"]["limit"], quotas["max_queued_jobs"]["used"]) == (5, 1)
    assert quotas["max_job_seconds"]["used"] is None
    admin = logged_in(app, "root")
    updated = admin.patch(f"/api/admin/users/{alice_id}", json={"quotas": {"max_queued_jobs": 1, "max_datasets": 7}})
    assert updated.json()["quota_overrides"] == {"max_queued_jobs": 1, "max_datasets": 7}
    assert {q["name"]: q["limit"] for q in alice.get("/api/quotas").json()}["max_queued_jobs"] == 1
    refused = submit(alice)
    checked = alice.post("/api/jobs/check", json={"graph": SEED, "dataset": "random_classification"})
    assert checked.status_code == 429 and checked.json() == refused.json()  # the editor's check before saving
    assert refused.status_code == 429
    assert "max_queued_jobs" in refused.json()["detail"] and "limit is 1, you use 1" in refused.json()["detail"]
    assert refused.json()["errors"][0] == {"code": "quota_exceeded", "field": "max_queued_jobs",
                                           "message": refused.json()["detail"]}
    cleared = admin.patch(f"/api/admin/users/{alice_id}", json={"quotas": {"max_queued_jobs": None}})
    assert cleared.json()["quota_overrides"] == {"max_datasets": 7}
    assert submit(alice).status_code == 201


def test_refuse_policy_refuses_the_third_job_of_a_user_limited_to_two(make_app) -> None:
    app = make_app(quota_max_running_jobs=2, quota_running_policy="refuse")
    dispatched = record_dispatches(app)
    make_user(app, "alice")
    alice = logged_in(app, "alice")
    assert submit(alice).status_code == 201 and submit(alice).status_code == 201
    third = submit(alice)
    assert third.status_code == 429
    assert "max_running_jobs" in third.json()["detail"] and "the limit is 2, you use 2" in third.json()["detail"]
    with app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Job)) == 2


def test_queue_policy_makes_the_third_job_wait_for_the_quota(make_app) -> None:
    app = make_app(quota_max_running_jobs=2)  # policy "queue", the default
    dispatched = record_dispatches(app)
    make_user(app, "alice")
    alice = logged_in(app, "alice")
    ids = [submit(alice).json()["id"] for _ in range(3)]
    tokens = dict(dispatched)
    settings = app.state.settings
    with app.state.sessionmaker() as session:
        for job_id in ids[:2]:
            assert lifecycle.claim(session, job_id, tokens[job_id], "w", 60, max_running=2)
    # The worker's delivery of the third: not started, still queued, and says why.
    assert run_job(ids[2], tokens[ids[2]], settings, app.state.sessionmaker, lambda *_: None) == "queued"
    third = alice.get(f"/api/jobs/{ids[2]}").json()
    assert third["state"] == "queued"
    events = alice.get(f"/api/jobs/{ids[2]}/events").json()
    assert events[-1]["payload"]["message"].startswith("Waits for the quota max_running_jobs: 2 of your jobs")
    # The reaper dispatches it again soon (QUOTA_RECHECK_SECONDS); still full, it waits again, said once.
    time.sleep(QUOTA_RECHECK_SECONDS + 0.2)
    with app.state.sessionmaker() as session:
        again = dict(lifecycle.reap(session, 60))
    assert set(again) == {ids[2]}
    tokens[ids[2]] = again[ids[2]]
    assert run_job(ids[2], tokens[ids[2]], settings, app.state.sessionmaker, lambda *_: None) == "queued"
    assert len(alice.get(f"/api/jobs/{ids[2]}/events").json()) == len(events)
    # Another user is not held back by alice's quota.
    make_user(app, "bob")
    bob_job = submit(logged_in(app, "bob")).json()["id"]
    with app.state.sessionmaker() as session:
        assert lifecycle.claim(session, bob_job, dict(dispatched)[bob_job], "w", 60, max_running=2)
        # One of alice's jobs ends: the waiting one can be claimed now.
        assert lifecycle.finish(session, ids[0], tokens[ids[0]], JobState.SUCCEEDED)
        assert lifecycle.claim(session, ids[2], tokens[ids[2]], "w", 60, max_running=2)


CHATTY_RUNNER = """
import json, signal, sys, time
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
while not stop:
    print(json.dumps({"type": "log", "message": "step"}), flush=True)
    time.sleep(0.2)
print(json.dumps({"type": "status", "status": "cancelled", "message": "Cancelled."}), flush=True)
sys.exit(3)
"""


@pytest.mark.slow
def test_three_supervised_jobs_under_a_quota_of_two_run_two_and_the_third_after(make_app) -> None:
    """Real supervisors and runner processes: two run, the third waits with its message, and runs
    once one of the two is cancelled and the reaper dispatches it again."""
    app = make_app(quota_max_running_jobs=2)
    dispatched = record_dispatches(app)
    make_user(app, "alice")
    alice = logged_in(app, "alice")
    ids = [submit(alice).json()["id"] for _ in range(3)]
    tokens = dict(dispatched)
    settings, sessions = app.state.settings, app.state.sessionmaker
    runner = lambda d: [sys.executable, "-c", CHATTY_RUNNER]  # noqa: E731
    results: dict[str, object] = {}

    def supervise(job_id: str) -> None:
        results[job_id] = run_job(job_id, tokens[job_id], settings, sessions, lambda *_: None, runner=runner)

    first = [threading.Thread(target=supervise, args=(job_id,)) for job_id in ids[:2]]
    for t in first:
        t.start()
    deadline = time.monotonic() + 60
    while {alice.get(f"/api/jobs/{j}").json()["state"] for j in ids[:2]} != {"running"}:
        assert time.monotonic() < deadline, "the first two jobs did not start"
        time.sleep(0.2)
    assert run_job(ids[2], tokens[ids[2]], settings, sessions, lambda *_: None, runner=runner) == "queued"
    assert alice.get(f"/api/jobs/{ids[2]}/events").json()[-1]["payload"]["message"].startswith(
        "Waits for the quota max_running_jobs")
    assert alice.post(f"/api/jobs/{ids[0]}/cancel").status_code == 200
    first[0].join(30)
    assert results[ids[0]] == "cancelled"
    time.sleep(QUOTA_RECHECK_SECONDS + 0.2)
    with sessions() as session:
        tokens.update(lifecycle.reap(session, 60))
    third = threading.Thread(target=supervise, args=(ids[2],))
    third.start()
    while alice.get(f"/api/jobs/{ids[2]}").json()["state"] != "running":
        assert time.monotonic() < deadline + 30, "the third job did not start"
        time.sleep(0.2)
    for job_id in ids[1:]:
        assert alice.post(f"/api/jobs/{job_id}/cancel").status_code == 200
    first[1].join(30)
    third.join(30)
    assert results[ids[1]] == results[ids[2]] == "cancelled"


def test_concurrent_claims_never_pass_the_running_quota(make_app) -> None:
    """Eight workers claim eight of one user's jobs at the same moment; the quota is 3."""
    app = make_app(quota_max_running_jobs=3)
    dispatched = record_dispatches(app)
    make_user(app, "alice")
    alice = logged_in(app, "alice")
    ids = [submit(alice).json()["id"] for _ in range(8)]
    tokens = dict(dispatched)
    barrier = threading.Barrier(len(ids))
    won: list[bool] = []

    def claim(job_id: str) -> None:
        with app.state.sessionmaker() as session:
            barrier.wait()
            won.append(lifecycle.claim(session, job_id, tokens[job_id], "w", 60, max_running=3))

    threads = [threading.Thread(target=claim, args=(job_id,)) for job_id in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == [False] * 5 + [True] * 3
    with app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Job).where(Job.state == JobState.RUNNING)) == 3


SLEEPY_RUNNER = """
import json, signal, sys, time
signal.signal(signal.SIGTERM, lambda *_: sys.exit(3))
print(json.dumps({"type": "log", "message": "training"}), flush=True)
time.sleep(60)
"""


def test_a_job_past_its_wall_time_quota_fails_naming_it(make_app) -> None:
    app = make_app(quota_max_job_seconds=1)
    dispatched = record_dispatches(app)
    make_user(app, "alice")
    alice = logged_in(app, "alice")
    job_id = submit(alice).json()["id"]
    token = dict(dispatched)[job_id]
    state = run_job(job_id, token, app.state.settings, app.state.sessionmaker, lambda *_: None,
                    runner=lambda d: [sys.executable, "-c", SLEEPY_RUNNER])
    job = alice.get(f"/api/jobs/{job_id}").json()
    assert state == "failed" and job["state"] == "failed"
    assert "max_job_seconds" in job["error"] and "is 1 seconds" in job["error"]


def upload(client: TestClient, content: bytes = CSV, name: str = "pets.csv"):
    return client.post("/api/datasets", files={"file": (name, content)})


def stored_files(app: FastAPI) -> list[Path]:
    data_dir = app.state.settings.data_dir
    return sorted(p for p in data_dir.rglob("*") if p.is_file() and ({"datasets", "uploads"} & set(p.parts)))


def test_an_upload_over_the_storage_quota_is_refused_with_nothing_written(make_app) -> None:
    app = make_app(quota_max_stored_bytes=len(CSV) + 20)
    make_user(app, "alice")
    alice = logged_in(app, "alice")
    assert upload(alice).status_code == 201
    before = stored_files(app)
    # ~500 kB: under what Content-Length alone could refuse (the form's overhead allowance), so it
    # is the count of bytes as they stream in that stops it.
    big = CSV + b"".join(b"%d,%d,cat\n" % (i, i) for i in range(50_000))
    for content in (big, CSV):  # the small one does not fit either: 2 x CSV > the limit
        refused = upload(alice, content)
        assert refused.status_code == 413
        detail = refused.json()["detail"]
        assert "max_stored_bytes" in detail and f"you use {len(CSV)} bytes" in detail and "was not stored" in detail
    assert stored_files(app) == before
    with app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Dataset)) == 1


def test_the_dataset_count_quota_refuses_the_next_upload(make_app) -> None:
    app = make_app(quota_max_datasets=1)
    make_user(app, "alice")
    alice = logged_in(app, "alice")
    assert upload(alice).status_code == 201
    refused = upload(alice)
    assert refused.status_code == 429 and "max_datasets" in refused.json()["detail"]
    assert "the limit is 1, you use 1" in refused.json()["detail"]
    with app.state.sessionmaker() as session:
        assert session.scalar(select(func.count()).select_from(Dataset)) == 1


def test_the_redis_failure_counter_is_shared_by_api_processes() -> None:
    """With Redis configured, two API processes (two counters) see each other's failures."""
    import uuid

    import redis

    from layerloom.api.ratelimit import RedisCounter

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"layerloom-test-{uuid.uuid4()}:"
    first, second = RedisCounter(url, 60, prefix), RedisCounter(url, 60, prefix)
    try:
        for _ in range(2):
            first.record_failure("user:alice")
        assert second.retry_after("user:alice", 3) is None
        second.record_failure("user:alice")
        wait = first.retry_after("user:alice", 3)
        assert wait is not None and 1 <= wait <= 60
        assert first.retry_after("user:bob", 3) is None
    finally:
        keys = first.redis.keys(prefix + "*")
        if keys:
            first.redis.delete(*keys)
