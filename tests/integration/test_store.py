"""The database layer on SQLite and PostgreSQL: migrations, constraints, version numbering, types.
Plus the settings that choose the database."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import ValidationError
from sqlalchemy import Engine, inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from layerloom.api.auth import create_token, get_or_create_user, hash_token, user_for_token
from layerloom.settings import Settings
from layerloom.store import alembic_config, make_engine, make_sessionmaker, migrate
from layerloom.store.graphs import NotStorable, add_version, canonical_json, create_graph, document_sha256
from layerloom.store.models import (
    ApiToken,
    Artifact,
    Base,
    Dataset,
    Graph,
    GraphVersion,
    Job,
    JobEvent,
    JobState,
    User,
)

TABLES = {"users", "api_tokens", "graphs", "graph_versions", "datasets", "jobs", "job_events", "artifacts",
          "user_sessions"}
DOC = json.loads((Path(__file__).parents[2] / "examples" / "seed_mlp.json").read_text())


def tables(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names()) - {"alembic_version"}


def schema_differences(engine: Engine) -> list:
    with engine.connect() as connection:
        return compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), Base.metadata)


def make_user(session: Session, name: str = "alice") -> User:
    return get_or_create_user(session, name)


def make_job(session: Session, owner: User, **fields) -> Job:
    job = Job(owner_id=owner.id, **{"graph": DOC, "mapping": {}, "config": {}, "max_attempts": 3, **fields})
    session.add(job)
    session.flush()
    return job


def make_dataset(session: Session, owner: User) -> Dataset:
    dataset = Dataset(owner_id=owner.id, name="d", kind="csv", description={"arrays": []}, storage_path="datasets/x",
                      size_bytes=1, sha256="0" * 64, options={})
    session.add(dataset)
    session.flush()
    return dataset


# ---- migrations -----------------------------------------------------------------------------


def test_migrations_upgrade_downgrade_upgrade(engine: Engine, migrated_url: str) -> None:
    assert tables(engine) == TABLES
    command.downgrade(alembic_config(migrated_url), "base")
    assert tables(engine) == set()
    migrate(migrated_url)
    assert tables(engine) == TABLES
    migrate(migrated_url)  # at head already: nothing to do
    assert schema_differences(engine) == []


def test_migrations_match_the_models(engine: Engine) -> None:
    assert schema_differences(engine) == []


def test_every_constraint_and_index_is_named_by_the_convention(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in TABLES:
        names = [fk["name"] for fk in inspector.get_foreign_keys(table)]
        names += [uq["name"] for uq in inspector.get_unique_constraints(table)]
        names += [ck["name"] for ck in inspector.get_check_constraints(table)]
        names += [ix["name"] for ix in inspector.get_indexes(table)]
        names.append(inspector.get_pk_constraint(table)["name"])
        for name in names:
            assert name and name.split("_")[0] in ("fk", "uq", "ck", "ix", "pk"), (table, name)


def test_sqlite_connections_use_wal_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'sub' / 'x.db'}")  # creates the missing folder
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() >= 1000
    engine.dispose()


# ---- graphs and versions ----------------------------------------------------------------------


def test_versions_are_numbered_from_one_per_graph(session: Session) -> None:
    alice = make_user(session)
    first, v1 = create_graph(session, alice, "first", DOC)
    second, w1 = create_graph(session, alice, "second", DOC)
    v2 = add_version(session, first, {**DOC, "name": "changed"})
    v3 = add_version(session, first, DOC)
    session.commit()
    assert [v1.number, v2.number, v3.number, w1.number] == [1, 2, 3, 1]
    assert first.latest_version == 3 and second.latest_version == 1
    assert v1.sha256 == v3.sha256 == document_sha256(DOC) != v2.sha256


def test_version_numbers_are_unique_per_graph(session: Session) -> None:
    graph, _ = create_graph(session, make_user(session), "g", DOC)
    session.commit()
    session.add(GraphVersion(graph_id=graph.id, number=1, document=DOC, sha256="0" * 64))
    with pytest.raises(IntegrityError):
        session.commit()


def test_concurrent_saves_get_distinct_version_numbers(engine: Engine, session: Session) -> None:
    graph, _ = create_graph(session, make_user(session), "g", DOC)
    session.commit()
    sessions = make_sessionmaker(engine)

    def save(_: int) -> int:
        with sessions() as own:
            version = add_version(own, own.get(Graph, graph.id), DOC)
            own.commit()
            return version.number

    with ThreadPoolExecutor(4) as pool:
        numbers = list(pool.map(save, range(12)))
    assert sorted(numbers) == list(range(2, 14))


def test_graph_versions_are_immutable(session: Session) -> None:
    _, version = create_graph(session, make_user(session), "g", DOC)
    session.commit()
    version.document = {"nodes": []}
    with pytest.raises(ValueError, match="immutable"):
        session.commit()


def test_deleting_a_graph_deletes_its_versions_but_keeps_jobs(session: Session) -> None:
    alice = make_user(session)
    graph, version = create_graph(session, alice, "g", DOC)
    job = make_job(session, alice, graph_version_id=version.id)
    session.commit()
    session.delete(graph)
    session.commit()
    session.expire_all()
    assert session.scalars(select(GraphVersion)).all() == []
    assert session.get(Job, job.id).graph_version_id is None
    assert session.get(Job, job.id).graph == DOC


def test_deleting_a_user_deletes_what_they_own(session: Session) -> None:
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    create_token(session, alice)
    create_graph(session, alice, "g", DOC)
    job = make_job(session, alice, dataset_id=make_dataset(session, alice).id)
    session.add(JobEvent(job_id=job.id, seq=0, type="status", payload={}))
    create_graph(session, bob, "kept", DOC)
    session.commit()
    session.delete(alice)
    session.commit()
    session.expire_all()
    for model in (ApiToken, Dataset, Job, JobEvent):
        assert session.scalars(select(model)).all() == []
    assert [g.name for g in session.scalars(select(Graph))] == ["kept"]


def test_user_names_are_unique(session: Session) -> None:
    make_user(session, "alice")
    session.add(User(name="alice"))
    with pytest.raises(IntegrityError):
        session.commit()


# ---- jobs, events, artifacts --------------------------------------------------------------------


def test_job_defaults(session: Session) -> None:
    job = make_job(session, make_user(session))
    session.commit()
    session.expire_all()
    job = session.get(Job, job.id)
    assert (job.state, job.attempt, job.cancel_requested, job.final_metrics) == (JobState.QUEUED, 0, False, None)
    assert job.created_at.tzinfo is not None


@pytest.mark.parametrize("fields", [
    {"state": "paused"},
    {"attempt": -1},
    {"max_attempts": 0},
    {"builtin_dataset": "iris", "dataset_id": "set below"},
], ids=["unknown_state", "negative_attempt", "no_attempts", "two_datasets"])
def test_job_constraints(session: Session, fields: dict) -> None:
    alice = make_user(session)
    if "dataset_id" in fields:
        fields = {**fields, "dataset_id": make_dataset(session, alice).id}
    with pytest.raises(IntegrityError):
        make_job(session, alice, **fields)


def test_job_event_seq_is_unique_per_job(session: Session) -> None:
    alice = make_user(session)
    first, second = make_job(session, alice), make_job(session, alice)
    session.add_all([JobEvent(job_id=first.id, seq=0, type="status", payload={"status": "running"}),
                     JobEvent(job_id=second.id, seq=0, type="status", payload={})])
    session.commit()
    session.add(JobEvent(job_id=first.id, seq=0, type="log", payload={}))
    with pytest.raises(IntegrityError):
        session.commit()


def test_artifact_kind_is_checked(session: Session) -> None:
    job = make_job(session, make_user(session))
    session.add(Artifact(job_id=job.id, kind="weights_safetensors", path="jobs/x/w.safetensors", size_bytes=1,
                         sha256="0" * 64))
    session.commit()
    session.add(Artifact(job_id=job.id, kind="pickle", path="jobs/x/w.pkl", size_bytes=1, sha256="0" * 64))
    with pytest.raises(IntegrityError):
        session.commit()


# ---- column types ---------------------------------------------------------------------------------


def test_timestamps_are_aware_utc_and_compare_in_sql(session: Session) -> None:
    alice = make_user(session)
    lease = datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    job = make_job(session, alice, lease_expires_at=lease)
    session.commit()
    session.expire_all()
    stored = session.get(Job, job.id).lease_expires_at
    assert stored == lease and stored.utcoffset() == timedelta(0)
    expired = select(Job.id).where(Job.lease_expires_at < datetime(2030, 1, 1, 10, 30, tzinfo=timezone.utc))
    assert session.scalars(expired).all() == [job.id]


def test_naive_datetimes_are_refused(session: Session) -> None:
    alice = make_user(session)
    with pytest.raises(StatementError, match="naive datetime"):
        make_job(session, alice, lease_expires_at=datetime(2030, 1, 1))


def test_json_columns_round_trip_and_none_is_sql_null(session: Session) -> None:
    payload = {"nested": {"list": [1, 2.5, None, "é"]}, "flag": True}
    job = make_job(session, make_user(session))
    job.config = payload
    session.commit()
    session.expire_all()
    assert session.get(Job, job.id).config == payload
    assert session.scalar(select(Job.id).where(Job.final_metrics.is_(None))) == job.id


def test_documents_that_a_database_cannot_hold_are_refused_before_it() -> None:
    assert canonical_json({"b": 1, "a": [1.5]}) == '{"a":[1.5],"b":1}'
    for bad in ({"x": math.nan}, {"x": math.inf}, {"name": "a\x00b"}):
        with pytest.raises(NotStorable):
            canonical_json(bad)


# ---- tokens ---------------------------------------------------------------------------------------


def test_tokens_are_stored_only_as_their_hash(session: Session) -> None:
    alice = make_user(session)
    token = create_token(session, alice)
    stored = session.scalars(select(ApiToken)).one()
    assert stored.token_hash == hash_token(token) and token not in stored.token_hash
    assert stored.last_used_at is None
    assert user_for_token(session, token).id == alice.id
    assert session.scalars(select(ApiToken)).one().last_used_at is not None
    assert user_for_token(session, token + "x") is None


def test_concurrent_first_requests_create_one_local_user(engine: Engine) -> None:
    sessions = make_sessionmaker(engine)

    def local(_: int) -> str:
        with sessions() as own:
            return get_or_create_user(own, "local").id

    with ThreadPoolExecutor(4) as pool:
        assert len(set(pool.map(local, range(8)))) == 1


# ---- settings ---------------------------------------------------------------------------------------


def test_default_database_is_a_sqlite_file_in_the_data_dir(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "d", database_url="")
    assert settings.database_url == f"sqlite:///{tmp_path / 'd' / 'layerloom.db'}"
    assert settings.data_dir.is_absolute()


def test_postgres_urls_get_the_psycopg_driver() -> None:
    url = Settings(database_url="postgresql://u@db:5432/layerloom").database_url
    assert url == "postgresql+psycopg://u@db:5432/layerloom"


@pytest.mark.parametrize("fields, message", [
    ({"database_url": "mysql://db/x"}, "SQLite or PostgreSQL"),
    ({"database_url": "sqlite://"}, "in-memory"),
    ({"database_url": "sqlite:///:memory:"}, "in-memory"),
    ({"lease_seconds": 15, "heartbeat_seconds": 10}, "at most half"),
    ({"auth_mode": "none"}, "auth_mode"),
    ({"max_upload_bytes": 0}, "max_upload_bytes"),
])
def test_impossible_settings_are_refused(fields: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**fields)
