"""The storage interface, with the same test bodies on both backends: LocalStorage in a temporary
folder and S3Storage against moto's standalone S3 server on loopback (a real HTTP server in its
own process, started here and stopped after)."""

from __future__ import annotations

import hashlib
import io
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from layerloom.settings import Settings
from layerloom.storage import (LocalStorage, Storage, StorageCache, StorageError, StorageNotFound,
                               storage_from_settings)

BUCKET = "layerloom-test"
CREDENTIALS = {"access_key": "testing", "secret_key": "testing", "region": "us-east-1"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class MotoServer:
    """``python -m moto.server`` on a free loopback port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
        self.process = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    break
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("moto's S3 server did not start")
                time.sleep(0.1)

        self.client = None

    def storage(self, prefix: str = "", **options) -> Storage:
        from layerloom.storage.s3 import S3Storage

        if options:  # its own client, with these timeouts
            storage = S3Storage(BUCKET, prefix, endpoint_url=self.url, **CREDENTIALS, **options)
        else:  # one shared client: building one costs about a second
            storage = S3Storage(BUCKET, prefix, endpoint_url=self.url, **CREDENTIALS, client=self.client)
            self.client = storage.client
        try:
            storage.client.create_bucket(Bucket=BUCKET)
        except storage.client.exceptions.BucketAlreadyOwnedByYou:
            pass
        return storage

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture(scope="module")
def moto_server() -> Iterator[MotoServer]:
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture(params=["local", "s3"])
def storage(request, tmp_path: Path) -> Storage:
    if request.param == "local":
        return LocalStorage(tmp_path / "store")
    # A fresh prefix per test keeps tests apart on the shared server.
    return request.getfixturevalue("moto_server").storage(prefix=f"t-{uuid.uuid4().hex[:8]}")


def test_round_trip_bytes_stream_and_file(storage: Storage, tmp_path: Path) -> None:
    storage.put("jobs/a/run/model.safetensors", b"weights")
    storage.put("jobs/a/run/manifest.json", io.BytesIO(b'{"ok": true}'))
    source = tmp_path / "results.json"
    source.write_bytes(b"[1, 2, 3]")
    storage.put("jobs/a/run/results.json", source)

    assert storage.get("jobs/a/run/model.safetensors") == b"weights"
    with storage.open("jobs/a/run/manifest.json") as stream:
        assert stream.read() == b'{"ok": true}'
    target = tmp_path / "copy.json"
    storage.download("jobs/a/run/results.json", target)
    assert target.read_bytes() == b"[1, 2, 3]"
    # Overwriting replaces the whole object.
    storage.put("jobs/a/run/model.safetensors", b"new")
    assert storage.get("jobs/a/run/model.safetensors") == b"new"
    assert storage.stat("jobs/a/run/model.safetensors").size == 3


def test_large_file_streams_in_chunks(storage: Storage, tmp_path: Path) -> None:
    size = 20 * 1024 * 1024
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(source, "wb") as f:
        for i in range(size // (1 << 20)):
            chunk = bytes([i % 251]) * (1 << 20)
            digest.update(chunk)
            f.write(chunk)
    storage.put("big/blob.bin", source)
    assert storage.stat("big/blob.bin").size == size

    # Read back through the stream in 1 MB reads: never the whole object in one buffer.
    read_back = hashlib.sha256()
    total = 0
    with storage.open("big/blob.bin") as stream:
        while chunk := stream.read(1 << 20):
            assert len(chunk) <= 1 << 20
            read_back.update(chunk)
            total += len(chunk)
    assert total == size and read_back.hexdigest() == digest.hexdigest()


class FailingReader(io.RawIOBase):
    """A source that yields ``good`` bytes and then fails, like a crashed producer."""

    def __init__(self, good: int) -> None:
        self.left = good

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self.left <= 0:
            raise OSError("the producer died mid-stream")
        n = min(len(buffer), self.left)
        buffer[:n] = b"x" * n
        self.left -= n
        return n


@pytest.mark.parametrize("good_bytes", [1000, 12 * 1024 * 1024])  # a single PUT and a multipart upload
def test_failed_write_leaves_no_object(storage: Storage, good_bytes: int) -> None:
    with pytest.raises((StorageError, OSError)):
        storage.put("jobs/a/run/model.safetensors", FailingReader(good_bytes))
    assert not storage.exists("jobs/a/run/model.safetensors")
    assert list(storage.list("jobs")) == []

    # An interrupted overwrite keeps the old object whole.
    storage.put("jobs/a/run/model.safetensors", b"old")
    with pytest.raises((StorageError, OSError)):
        storage.put("jobs/a/run/model.safetensors", FailingReader(good_bytes))
    assert storage.get("jobs/a/run/model.safetensors") == b"old"
    assert list(storage.list("jobs")) == ["jobs/a/run/model.safetensors"]


def test_list_exists_delete_and_delete_prefix(storage: Storage) -> None:
    for key in ["jobs/ab/run/w.pt", "jobs/ab/run/log.txt", "jobs/abc/run/w.pt", "datasets/d1/data.csv"]:
        storage.put(key, key.encode())
    assert list(storage.list("jobs/ab")) == ["jobs/ab/run/log.txt", "jobs/ab/run/w.pt"]
    assert list(storage.list("jobs/ab/")) == ["jobs/ab/run/log.txt", "jobs/ab/run/w.pt"]
    assert list(storage.list()) == ["datasets/d1/data.csv", "jobs/ab/run/log.txt", "jobs/ab/run/w.pt",
                                    "jobs/abc/run/w.pt"]
    assert list(storage.list("nothing/here")) == []
    assert storage.exists("jobs/ab/run/w.pt") and not storage.exists("jobs/ab/run/missing.pt")
    assert storage.stat("jobs/ab/run/missing.pt") is None

    storage.delete("jobs/ab/run/log.txt")
    storage.delete("jobs/ab/run/log.txt")  # deleting an absent object is fine
    assert not storage.exists("jobs/ab/run/log.txt")

    # A prefix is a folder: deleting jobs/ab leaves jobs/abc alone.
    assert storage.delete_prefix("jobs/ab") == 1
    assert list(storage.list("jobs")) == ["jobs/abc/run/w.pt"]
    assert storage.delete_prefix("jobs/none") == 0
    with pytest.raises(StorageError):
        storage.delete_prefix("")  # never "delete everything" by an empty id


def test_missing_object_is_not_found(storage: Storage, tmp_path: Path) -> None:
    with pytest.raises(StorageNotFound, match=r"could not read 'jobs/x/run/none\.pt': no such object"):
        storage.get("jobs/x/run/none.pt")
    with pytest.raises(StorageNotFound):
        storage.download("jobs/x/run/none.pt", tmp_path / "none")


@pytest.mark.parametrize("key", [
    "../etc/passwd", "jobs/../../etc/passwd", "/etc/passwd", "jobs\\..\\x", "jobs/a\x00b", "", "jobs//a",
    "jobs/a/", "./a", "jobs/.hidden", "jobs/..", "a" * 1000, "jobs/ä", "jobs/a b", "C:/x",
])
def test_hostile_keys_are_refused(storage: Storage, key: str) -> None:
    for call in (lambda: storage.put(key, b"x"), lambda: storage.get(key), lambda: storage.exists(key),
                 lambda: storage.delete(key), lambda: storage.presign(key)):
        with pytest.raises(StorageError, match="keys are relative paths"):
            call()
    if key not in ("", "jobs/a/"):  # '' lists everything; a trailing '/' is allowed on a prefix
        with pytest.raises(StorageError, match="keys are relative paths"):
            list(storage.list(key))


def test_local_keys_stay_inside_the_root(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "root")
    storage.put("a/b.txt", b"x")
    assert (tmp_path / "root" / "a" / "b.txt").read_bytes() == b"x"
    assert storage.local_path("a/b.txt") == tmp_path / "root" / "a" / "b.txt"
    assert storage.presign("a/b.txt") is None  # the API streams local files itself
    assert sorted(p.name for p in (tmp_path / "root" / "a").iterdir()) == ["b.txt"]  # no temporary file left


def test_presigned_url_serves_the_bytes(moto_server: MotoServer) -> None:
    storage = moto_server.storage(prefix="presign")
    storage.put("jobs/a/run/model.safetensors", b"presigned weights")
    url = storage.presign("jobs/a/run/model.safetensors", expires_seconds=60, filename="my model.safetensors")
    assert url.startswith(moto_server.url) and "Signature" in url
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.read() == b"presigned weights"
        assert "my%20model.safetensors" in response.headers["Content-Disposition"]


def test_cache_downloads_once_per_version(storage: Storage, tmp_path: Path) -> None:
    cache = StorageCache(storage, tmp_path / "cache")
    storage.put("datasets/d/data.csv", b"a,b\n1,2\n")
    first = cache.fetch("datasets/d/data.csv")
    assert first.read_bytes() == b"a,b\n1,2\n"
    assert cache.fetch("datasets/d/data.csv") == first
    if storage.local_path("datasets/d/data.csv") is None:
        first.write_bytes(b"a,b\n9,9\n")  # a cached copy is reused as is (same size, same etag) ...
        assert cache.fetch("datasets/d/data.csv").read_bytes() == b"a,b\n9,9\n"
    storage.put("datasets/d/data.csv", b"a,b\n1,2\n3,4\n")  # ... until the object changes
    assert cache.fetch("datasets/d/data.csv").read_bytes() == b"a,b\n1,2\n3,4\n"
    with pytest.raises(StorageNotFound):
        cache.fetch("datasets/d/none.csv")


def test_cache_syncs_a_whole_folder_with_its_layout(storage: Storage, tmp_path: Path) -> None:
    """A dataset is a folder of files that name each other by relative path: synced whole, whatever
    its files are, and again only where an object changed."""
    cache = StorageCache(storage, tmp_path / "cache")
    files = {"datasets/d/data.csv": b"a,b\n1,2\n", "datasets/d/arrays/dataset.json": b"{}",
             "datasets/d/arrays/train-0.npy": b"npy"}
    for key, value in files.items():
        storage.put(key, value)
    storage.put("datasets/d2/data.csv", b"other")
    root = cache.sync("datasets/d")
    assert {key: (root / key).read_bytes() for key in files} == files
    if storage.local_root() is None:
        assert root == tmp_path / "cache" / "tree" and not (root / "datasets/d2").exists()
        (root / "datasets/d/data.csv").write_bytes(b"a,b\n9,9\n")  # an unchanged object is not fetched again
        assert (cache.sync("datasets/d") / "datasets/d/data.csv").read_bytes() == b"a,b\n9,9\n"
    else:
        assert root == storage.local_root()  # local storage: the files already are here
    storage.put("datasets/d/arrays/dataset.json", b'{"changed": 1}')
    assert (cache.sync("datasets/d") / "datasets/d/arrays/dataset.json").read_bytes() == b'{"changed": 1}'
    with pytest.raises(StorageNotFound):
        cache.sync("datasets/none")
    storage.delete_prefix("datasets/d")
    cache.forget("datasets/d")
    assert not (tmp_path / "cache" / "tree" / "datasets" / "d").exists()
    with pytest.raises(StorageNotFound):
        cache.sync("datasets/d")


def test_outage_raises_a_clear_error_quickly(tmp_path: Path) -> None:
    server = MotoServer()
    try:
        storage = server.storage(prefix="outage", timeout_seconds=2, max_attempts=2)
        storage.put("jobs/a/run/model.safetensors", b"w")
    finally:
        server.stop()
    started = time.monotonic()
    for call in (lambda: storage.put("jobs/a/run/model.safetensors", b"w2"),
                 lambda: storage.get("jobs/a/run/model.safetensors"),
                 lambda: storage.exists("jobs/a/run/model.safetensors"),
                 lambda: list(storage.list("jobs")),
                 lambda: StorageCache(storage, tmp_path / "c").fetch("jobs/a/run/model.safetensors")):
        with pytest.raises(StorageError, match=r"Storage \(s3\) could not \w+ 'jobs.*': .*Connect.*"
                                               r"bucket 'layerloom-test'") as info:
            call()
        assert not isinstance(info.value, StorageNotFound)
    assert time.monotonic() - started < 20


def test_settings_choose_the_backend(tmp_path: Path, moto_server: MotoServer) -> None:
    local = storage_from_settings(Settings(data_dir=tmp_path))
    assert isinstance(local, LocalStorage) and local.root == tmp_path.resolve()

    s3 = storage_from_settings(Settings(data_dir=tmp_path, storage_url=f"s3://{BUCKET}/from-settings",
                                        storage_endpoint_url=moto_server.url, storage_region="us-east-1",
                                        storage_access_key="testing", storage_secret_key="testing"))
    moto_server.storage()  # makes sure the bucket exists
    s3.put("k/v.txt", b"v")
    assert s3.get("k/v.txt") == b"v"
    assert list(s3.list("k")) == ["k/v.txt"]
    assert s3.client.head_object(Bucket=BUCKET, Key="from-settings/k/v.txt")["ContentLength"] == 1

    for bad in ["s3://", "http://bucket/x", "s3://bucket/../x", "/some/path"]:
        with pytest.raises(ValueError, match="LAYERLOOM_STORAGE_URL"):
            Settings(data_dir=tmp_path, storage_url=bad)


# ---- jobs on S3: the worker uploads, the API serves, deleting removes ------------------------


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # storage, not the database, is under test
def test_a_job_on_s3_is_retried_through_an_outage_then_served_from_storage(make_app, client_for, token_for,
                                                                             data_dir: Path) -> None:
    from layerloom.jobs.supervisor import run_job
    from test_jobs import submit

    server = MotoServer()
    bucket_storage = server.storage()
    try:
        app = make_app(storage_url=f"s3://{BUCKET}/cluster", storage_endpoint_url=server.url,
                       storage_region="us-east-1", storage_access_key="testing", storage_secret_key="testing",
                       storage_timeout_seconds=2, storage_max_attempts=2)
        settings = app.state.settings
        client = client_for(app, token_for(app, "alice"))
        dispatched: list[tuple[str, str]] = []
        app.state.dispatch = lambda job_id, token, queue: dispatched.append((job_id, token))
        job_id = submit(client, config={"epochs": 1}).json()["id"]

        # The storage server is down when the attempt starts: it fails at once, saying why, and the
        # job is retried, never "succeeded".
        server.stop()
        assert run_job(*dispatched[-1], settings, app.state.sessionmaker, app.state.dispatch) == "queued"
        job = client.get(f"/api/jobs/{job_id}").json()
        assert job["state"] == "queued"
        message = client.get(f"/api/jobs/{job_id}/events").json()[-1]["payload"]["message"]
        assert "Fetching the job's files from storage failed: Storage (s3) could not write 'jobs/" in message
        assert "Retrying from its last stored checkpoint, if storage has one" in message
        assert client.get(f"/api/jobs/{job_id}/weights").status_code == 404

        # The server is back (empty, as after a restore): the retry uploads and the job succeeds.
        server = MotoServer(server.port)
        server.storage()
        assert run_job(*dispatched[-1], settings, app.state.sessionmaker, app.state.dispatch) == "succeeded"
        keys = list(bucket_storage.list(f"cluster/jobs/{job_id}"))
        assert f"cluster/jobs/{job_id}/run/weights.safetensors" in keys
        assert f"cluster/jobs/{job_id}/run/results.json" in keys

        # The API streams from S3, not from the worker's folder.
        import shutil

        shutil.rmtree(data_dir / "jobs" / job_id)
        weights = client.get(f"/api/jobs/{job_id}/weights")
        assert weights.status_code == 200
        assert weights.content == bucket_storage.get(f"cluster/jobs/{job_id}/run/weights.safetensors")
        assert "attachment" in weights.headers["content-disposition"]
        assert client.get(f"/api/jobs/{job_id}/manifest").json()["graph"]["name"] == "seed-mlp"
        assert client.get(f"/api/jobs/{job_id}/results").status_code == 200

        # With presigned downloads on, the API redirects to S3 and the URL serves the same bytes.
        presigning = make_app(**{**settings.model_dump(), "storage_presign_downloads": True,
                                 "storage_secret_key": "testing"})
        redirect = client_for(presigning, token_for(presigning, "alice")).get(f"/api/jobs/{job_id}/weights",
                                                                               follow_redirects=False)
        assert redirect.status_code == 307
        with urllib.request.urlopen(redirect.headers["location"], timeout=10) as response:
            assert response.read() == weights.content

        # Deleting the job deletes its objects.
        assert client.delete(f"/api/jobs/{job_id}").status_code == 204
        assert list(bucket_storage.list(f"cluster/jobs/{job_id}")) == []
    finally:
        server.stop()


def s3_settings(server: MotoServer, prefix: str, **extra) -> dict:
    return {"storage_url": f"s3://{BUCKET}/{prefix}", "storage_endpoint_url": server.url, "storage_region": "us-east-1",
            "storage_access_key": "testing", "storage_secret_key": "testing", "storage_timeout_seconds": 2,
            "storage_max_attempts": 2, **extra}


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_upload_lives_in_s3_and_a_worker_elsewhere_trains_on_it_and_resumes_from_its_checkpoint(
        make_app, client_for, token_for, data_dir: Path, tmp_path: Path, moto_server: MotoServer,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The API and a 'worker' with different data_dirs: the upload, the checkpoints and the model go
    through S3 only; a retry on a third machine starts from the stored checkpoint; deleting the dataset
    and the job leaves no object."""
    from layerloom.jobs.supervisor import run_job
    from test_serve import digits_csv, load_example

    bucket = moto_server.storage()
    prefix = f"up-{uuid.uuid4().hex[:8]}"
    app = make_app(**s3_settings(moto_server, prefix))
    client = client_for(app, token_for(app, "alice"))
    dispatched: list[tuple[str, str]] = []
    app.state.dispatch = lambda job_id, token, queue: dispatched.append((job_id, token))
    body, _ = digits_csv()
    options = {"inputs": {"x": [f"p{i}" for i in range(64)]}, "input_shapes": {"x": [1, 8, 8]},
               "targets": {"digit": {"column": "digit", "kind": "categorical"}, "ink": {"column": "ink", "kind": "numeric"}},
               "split_column": "split"}
    upload = client.post("/api/datasets", files={"file": ("digits.csv", body, "text/csv")},
                         data={"options": json.dumps(options)})
    assert upload.status_code == 201, upload.text
    dataset_id = upload.json()["id"]
    stored = list(bucket.list(f"{prefix}/datasets/{dataset_id}"))
    assert f"{prefix}/datasets/{dataset_id}/data.csv" in stored
    assert f"{prefix}/datasets/{dataset_id}/arrays/dataset.json" in stored and len(stored) > 3
    assert not (data_dir / "datasets" / dataset_id).exists()  # the API keeps only its cache
    import shutil

    shutil.rmtree(data_dir / "cache")  # a cold cache: samples come from S3
    assert client.get(f"/api/datasets/{dataset_id}/samples", params={"n": 2}).status_code == 200

    job_id = client.post("/api/jobs", json={"graph": load_example("two_head"), "dataset": dataset_id,
                                            "config": {"epochs": 3, "batch_size": 64, "seed": 1}}).json()["id"]
    worker = app.state.settings.model_copy(update={"data_dir": tmp_path / "worker", "storage_cache_dir": tmp_path / "worker" / "cache"})
    # The first attempt's runner is killed once epoch 2's checkpoint is stored (before epoch 2 is logged).
    from layerloom.jobs import supervisor

    original = supervisor._Supervision._store_checkpoint

    def store_then_kill(self, event):
        stored_ok = original(self, event)
        if event["epoch"] == 2:
            self.runner.signal_group(9)  # like a machine lost right after the upload
        return stored_ok

    monkeypatch.setattr(supervisor._Supervision, "_store_checkpoint", store_then_kill)
    assert run_job(*dispatched[-1], worker, app.state.sessionmaker, app.state.dispatch) == "queued"
    monkeypatch.undo()
    # The note names the per-epoch checkpoint it was written after; the one before it is gone.
    assert json.loads(bucket.get(f"{prefix}/jobs/{job_id}/run/checkpoint.json")) == {"epoch": 2, "file": "checkpoint-2.pt"}
    run_keys = list(bucket.list(f"{prefix}/jobs/{job_id}/run"))
    assert f"{prefix}/jobs/{job_id}/run/checkpoint-2.pt" in run_keys
    assert f"{prefix}/jobs/{job_id}/run/checkpoint-1.pt" not in run_keys
    events = client.get(f"/api/jobs/{job_id}/events").json()
    assert [e["payload"]["epoch"] for e in events if e["type"] == "epoch"] == [1, 2]
    assert "Retrying from the checkpoint of epoch 2" in events[-1]["payload"]["message"]
    assert not (tmp_path / "worker" / "datasets").exists()  # the worker read the dataset from its cache

    elsewhere = worker.model_copy(update={"data_dir": tmp_path / "third", "storage_cache_dir": tmp_path / "third" / "cache"})
    assert run_job(*dispatched[-1], elsewhere, app.state.sessionmaker, app.state.dispatch) == "succeeded"
    events = client.get(f"/api/jobs/{job_id}/events").json()
    assert [e["payload"]["epoch"] for e in events if e["type"] == "epoch"] == [1, 2, 3]
    assert any("Resumed from the checkpoint of epoch 2" in e["payload"].get("message", "") for e in events)
    assert client.get(f"/api/jobs/{job_id}/weights").status_code == 200
    assert f"{prefix}/jobs/{job_id}/run/checkpoint-2.pt" not in list(bucket.list(f"{prefix}/jobs/{job_id}/run"))
    export = client.get(f"/api/jobs/{job_id}/export", params={"format": "pytorch"})
    assert export.status_code == 200 and export.content[:2] == b"PK"
    assert f"{prefix}/jobs/{job_id}/run/exports/model-pytorch.zip" in list(bucket.list(f"{prefix}/jobs/{job_id}"))
    assert client.get(f"/api/jobs/{job_id}/export", params={"format": "pytorch"}).content == export.content

    assert client.delete(f"/api/datasets/{dataset_id}").status_code == 204  # its job has finished
    assert client.delete(f"/api/jobs/{job_id}").status_code == 204
    assert list(bucket.list(f"{prefix}/datasets/{dataset_id}")) == []
    assert list(bucket.list(f"{prefix}/jobs/{job_id}")) == []


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_storage_server_stopping_mid_job_fails_the_attempt_clearly_and_a_retry_succeeds(
        make_app, client_for, token_for) -> None:
    import threading

    from layerloom.jobs import lifecycle
    from layerloom.jobs.supervisor import run_job
    from test_serve import load_example

    server = MotoServer()
    server.storage()
    try:
        app = make_app(**s3_settings(server, "mid-job"))
        client = client_for(app, token_for(app, "alice"))
        dispatched: list[tuple[str, str]] = []
        app.state.dispatch = lambda job_id, token, queue: dispatched.append((job_id, token))
        job_id = client.post("/api/jobs", json={"graph": load_example("digits_cnn"), "dataset": "digits",
                                                "config": {"epochs": 2, "batch_size": 32, "seed": 1}}).json()["id"]

        def stop_after_the_first_epoch() -> None:
            while True:
                with app.state.sessionmaker() as session:
                    if lifecycle.last_logged_epoch(session, job_id) >= 1:
                        break
                time.sleep(0.05)
            server.stop()

        stopper = threading.Thread(target=stop_after_the_first_epoch, daemon=True)
        stopper.start()
        assert run_job(*dispatched[-1], app.state.settings, app.state.sessionmaker, app.state.dispatch) == "queued"
        stopper.join(10)
        job = client.get(f"/api/jobs/{job_id}").json()
        assert job["state"] == "queued" and client.get(f"/api/jobs/{job_id}/weights").status_code == 404
        message = client.get(f"/api/jobs/{job_id}/events").json()[-1]["payload"]["message"]
        assert ("Storing the checkpoint of epoch" in message or "Storing the trained model failed" in message), message
        assert "Storage (s3) could not write" in message and "Retrying" in message

        server = MotoServer(server.port)  # back, empty (as after a restore): the retry starts over
        server.storage()
        assert run_job(*dispatched[-1], app.state.settings, app.state.sessionmaker, app.state.dispatch) == "succeeded"
        epochs = [e["payload"]["epoch"] for e in client.get(f"/api/jobs/{job_id}/events").json() if e["type"] == "epoch"]
        assert epochs == [1, 2]  # each once, though the retry trained the first ones again
        assert client.get(f"/api/jobs/{job_id}/weights").status_code == 200
    finally:
        server.stop()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_recorded_artifact_missing_from_storage_is_404_not_500(app, client_a, data_dir: Path) -> None:
    from sqlalchemy import update

    from layerloom.store.models import Artifact, Job
    from test_jobs import submit

    app.state.dispatch = lambda job_id, token, queue: None
    job_id = submit(client_a).json()["id"]
    with app.state.sessionmaker() as session:
        session.execute(update(Job).where(Job.id == job_id).values(state="succeeded"))
        session.add(Artifact(job_id=job_id, kind="weights_safetensors", path=f"jobs/{job_id}/run/weights.safetensors",
                             size_bytes=5, sha256="0" * 64))
        session.commit()
    response = client_a.get(f"/api/jobs/{job_id}/weights")
    assert response.status_code == 404 and "missing from storage" in response.json()["detail"]
    assert client_a.get(f"/api/jobs/{job_id}/results").status_code == 404

    app.state.storage.put(f"jobs/{job_id}/run/weights.safetensors", b"bytes")
    assert client_a.get(f"/api/jobs/{job_id}/weights").content == b"bytes"
    assert (data_dir / "jobs" / job_id / "run" / "weights.safetensors").is_file()  # local storage is data_dir
    assert client_a.delete(f"/api/jobs/{job_id}").status_code == 204
    assert not (data_dir / "jobs" / job_id).exists()
