"""Server-side dataset folders (issue 12, item 2): an admin registers a directory under
LAYERLOOM_DATA_ROOTS, every user sees it and trains on it without uploading; paths that leave the
roots ('..', absolute paths elsewhere, symbolic links out) are refused with a message saying so."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.datagen import GRAPH, image_folder


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "shared-data"
    outside = tmp_path / "elsewhere"
    image_folder(root / "shapes", 40, valid=10)
    image_folder(outside / "secret", 10)
    return root, outside


def register(client, path: str, name: str = "shapes"):
    return client.post("/api/admin/datasets", json={"path": path, "name": name, "image_size": [64, 64]})


def test_a_registered_folder_trains_for_another_user_without_upload(make_app, token_for, client_for, roots,
                                                                    monkeypatch, data_dir: Path) -> None:
    from layerloom.jobs.runner import load_dataset
    from layerloom.train import train

    root, _ = roots
    monkeypatch.setenv("LAYERLOOM_DATA_ROOTS", str(root))  # what a worker's runner checks reads against
    app = make_app(admin_users="admin", data_roots=str(root))
    admin, bob = client_for(app, token_for(app, "admin")), client_for(app, token_for(app, "bob"))
    assert register(bob, "shapes").status_code == 404  # not an admin
    response = register(admin, "shapes")
    assert response.status_code == 201, response.text
    dataset = response.json()
    assert dataset["description"]["sizes"] == {"train": 40, "valid": 10}

    listed = [d["id"] for d in bob.get("/api/datasets", params={"limit": 100}).json()["data"]]
    assert dataset["id"] in listed
    samples = bob.get(f"/api/datasets/{dataset['id']}/samples", params={"n": 2})
    assert samples.status_code == 200 and samples.json()["samples"][0]["x"]["kind"] == "image"
    assert not list((data_dir / "datasets" / dataset["id"]).glob("*.zip"))  # nothing uploaded or copied

    # What the worker hands the runner (jobs/supervisor.py write_spec), then the training itself.
    reference = {"kind": "images", "name": "shapes", "options": dataset["options"], "max_bytes": 1,
                 "path": str(data_dir / "datasets" / dataset["id"] / "folder.json")}
    result = train(GRAPH, load_dataset(reference), {"epochs": 1, "batch_size": 16, "data_loading": "stream",
                                                     "data_workers": 1})
    assert result.status == "succeeded" and result.history[0]["val_loss"] > 0


def test_a_worker_hands_its_runner_the_roots_and_the_memory_budget(make_app, token_for, client_for, roots,
                                                                   monkeypatch, data_dir: Path) -> None:
    """Through the supervisor and a real runner process, with the roots and the budget only in the
    worker's settings: the runner, which gets an allow-listed environment, must still see both."""
    from sqlalchemy import select

    from layerloom.jobs.supervisor import run_job
    from layerloom.store.models import JobEvent

    root, _ = roots
    monkeypatch.delenv("LAYERLOOM_DATA_ROOTS", raising=False)
    monkeypatch.delenv("LAYERLOOM_DATA_MEMORY_BUDGET_MB", raising=False)
    app = make_app(admin_users="admin", data_roots=str(root), data_memory_budget_mb=1)
    sent: list[tuple[str, str]] = []
    app.state.dispatch = lambda job_id, token, queue="default": sent.append((job_id, token))
    admin, bob = client_for(app, token_for(app, "admin")), client_for(app, token_for(app, "bob"))
    dataset = register(admin, "shapes").json()
    submitted = bob.post("/api/jobs", json={"graph": GRAPH, "dataset": dataset["id"],
                                            "config": {"epochs": 1, "batch_size": 16, "data_workers": 0}})
    assert submitted.status_code == 201, submitted.text
    [(job_id, token)] = sent
    state = run_job(job_id, token, app.state.settings, app.state.sessionmaker, lambda *_: None)
    with app.state.sessionmaker() as session:
        logs = [e.payload.get("message", "") for e in session.scalars(
            select(JobEvent).where(JobEvent.job_id == job_id, JobEvent.type == "log"))]
    assert state == "succeeded", logs
    # 40 + 10 images of 3×64×64 float32 take 2.3 MiB decoded: over the worker's 1 MiB, so auto streams.
    assert any("over the runner's memory budget of 1 MiB" in message for message in logs), logs


@pytest.mark.parametrize("path, code, says", [
    ("../elsewhere/secret", "parent_path", "contains '..'"),
    ("shapes/../../elsewhere/secret", "parent_path", "contains '..'"),
    ("ABSOLUTE", "outside_data_roots", "outside the server's data roots"),
    ("link-out", "outside_data_roots", "symbolic link"),
    ("/etc", "outside_data_roots", "outside the server's data roots"),
])
def test_paths_that_leave_the_roots_are_refused(path, code, says, make_app, token_for, client_for, roots) -> None:
    root, outside = roots
    (root / "link-out").symlink_to(outside / "secret", target_is_directory=True)
    app = make_app(admin_users="admin", data_roots=str(root))
    admin = client_for(app, token_for(app, "admin"))
    response = register(admin, str(outside / "secret") if path == "ABSOLUTE" else path)
    assert response.status_code == 422, response.text
    errors = response.json()["errors"]
    assert errors[0]["code"] == code and says in errors[0]["message"], errors


def test_an_image_linked_out_of_the_root_is_refused_at_registration_and_at_read_time(
        make_app, token_for, client_for, roots, monkeypatch, data_dir: Path) -> None:
    from layerloom.data import DatasetError
    from layerloom.jobs.runner import load_dataset

    root, outside = roots
    monkeypatch.setenv("LAYERLOOM_DATA_ROOTS", str(root))
    app = make_app(admin_users="admin", data_roots=str(root))
    admin = client_for(app, token_for(app, "admin"))
    secret = next((outside / "secret" / "train" / "dark").iterdir())
    sneaky = root / "shapes" / "train" / "dark" / "zz-link.png"
    sneaky.symlink_to(secret)
    refused = register(admin, "shapes")
    assert refused.status_code == 422 and refused.json()["errors"][0]["code"] == "outside_data_roots"

    sneaky.unlink()
    dataset = register(admin, "shapes").json()
    victim = root / "shapes" / "train" / "dark" / "000000.png"  # replaced by a link after registration
    victim.unlink()
    victim.symlink_to(secret)
    reference = {"kind": "images", "name": "shapes", "options": dataset["options"], "max_bytes": 1,
                 "path": str(data_dir / "datasets" / dataset["id"] / "folder.json")}
    images = load_dataset(reference).splits["train"]["x"]
    with pytest.raises(DatasetError, match="outside its dataset folder"):
        images[0]


def test_the_cli_registers_a_folder(tmp_path: Path, roots) -> None:
    import subprocess
    import sys

    root, _ = roots
    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(repo / "backend"), "LAYERLOOM_DATA_DIR": str(tmp_path / "cli-data"),
           "LAYERLOOM_DATA_ROOTS": str(root)}
    ok = subprocess.run([sys.executable, "-m", "layerloom.cli", "datasets", "register", "shapes", "--name", "shapes",
                         "--image-size", "64", "64"], env=env, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "registered 'shapes'" in ok.stdout and "'train': 40" in ok.stdout
    refused = subprocess.run([sys.executable, "-m", "layerloom.cli", "datasets", "register", "../x", "--name", "x"],
                             env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 2 and "contains '..'" in refused.stderr
