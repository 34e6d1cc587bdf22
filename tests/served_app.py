"""An in-process app in token mode with two users, for tests that train a job in the test process
and then use the API on its results (predict, results, data-path checks)."""

from __future__ import annotations

import hashlib
import warnings
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from layerloom.api import create_app
from layerloom.api.auth import create_token, get_or_create_user
from layerloom.jobs.supervisor import ARTIFACT_FILES
from layerloom.settings import Settings
from layerloom.store import migrate
from layerloom.store.models import Artifact, Job, JobState


class TwoUserApp:
    """``alice`` and ``bob`` are TestClients with their own bearer tokens; no worker is attached."""

    def __init__(self, tmp: Path, db_name: str) -> None:
        url = f"sqlite:///{tmp / db_name}"
        migrate(url)
        self.data_dir = tmp / "data"
        self.app = create_app(Settings(database_url=url, data_dir=self.data_dir, auth_mode="token"))
        self.app.state.dispatch = lambda *_: None  # no worker: the test trains the job itself
        with self.app.state.sessionmaker() as session:
            tokens = {name: create_token(session, get_or_create_user(session, name)) for name in ("alice", "bob")}
        self.alice = TestClient(self.app, headers={"Authorization": f"Bearer {tokens['alice']}"})
        self.bob = TestClient(self.app, headers={"Authorization": f"Bearer {tokens['bob']}"})

    def record_success(self, session: Session, job_id: str, run_dir: Path, **values: Any) -> None:
        """Mark the job succeeded and record its artifacts, as the supervisor does after a run."""
        session.execute(update(Job).where(Job.id == job_id).values(state=JobState.SUCCEEDED, **values))
        for kind, name in ARTIFACT_FILES.items():
            path = run_dir / name
            if path.is_file():
                session.add(Artifact(job_id=job_id, kind=kind, path=str(path.relative_to(self.data_dir)),
                                     size_bytes=path.stat().st_size,
                                     sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
        session.commit()
