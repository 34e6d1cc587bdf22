"""initial: users, tokens, graphs with versions, datasets, jobs, job events, artifacts

Revision ID: 0001
Revises:
Create Date: 2026-11-22

Migrations are frozen: they spell out types and constraint names instead of importing the models.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql")
TIMESTAMP = sa.DateTime(timezone=True)


def id_column() -> sa.Column:
    return sa.Column("id", sa.String(36), nullable=False)


def created_at() -> sa.Column:
    return sa.Column("created_at", TIMESTAMP, nullable=False)


def owner(table: str) -> tuple[sa.Column, sa.ForeignKeyConstraint]:
    return (
        sa.Column("owner_id", sa.String(36), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=f"fk_{table}_owner_id_users", ondelete="CASCADE"),
    )


def upgrade() -> None:
    op.create_table(
        "users",
        id_column(),
        sa.Column("name", sa.String(100), nullable=False),
        created_at(),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
        sa.UniqueConstraint("name", name="uq_users_name"),
    )
    op.create_table(
        "api_tokens",
        id_column(),
        sa.Column("user_id", sa.String(36), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        created_at(),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_api_tokens_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])

    op.create_table(
        "graphs",
        id_column(),
        *owner("graphs"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        created_at(),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("latest_version >= 0", name="ck_graphs_latest_version"),
        sa.PrimaryKeyConstraint("id", name="pk_graphs"),
    )
    op.create_index("ix_graphs_owner_id", "graphs", ["owner_id"])
    op.create_table(
        "graph_versions",
        id_column(),
        sa.Column("graph_id", sa.String(36), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("document", JSON, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        created_at(),
        sa.CheckConstraint("number >= 1", name="ck_graph_versions_number"),
        sa.ForeignKeyConstraint(["graph_id"], ["graphs.id"], name="fk_graph_versions_graph_id_graphs",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_graph_versions"),
        sa.UniqueConstraint("graph_id", "number", name="uq_graph_versions_graph_id_number"),
    )

    op.create_table(
        "datasets",
        id_column(),
        *owner("datasets"),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("description", JSON, nullable=False),
        sa.Column("storage_path", sa.String(500), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("options", JSON, nullable=False),
        created_at(),
        sa.CheckConstraint("kind IN ('csv', 'npz', 'images')", name="ck_datasets_kind"),
        sa.PrimaryKeyConstraint("id", name="pk_datasets"),
    )
    op.create_index("ix_datasets_owner_id", "datasets", ["owner_id"])

    op.create_table(
        "jobs",
        id_column(),
        *owner("jobs"),
        sa.Column("graph_version_id", sa.String(36), nullable=True),
        sa.Column("graph", JSON, nullable=False),
        sa.Column("dataset_id", sa.String(36), nullable=True),
        sa.Column("builtin_dataset", sa.String(100), nullable=True),
        sa.Column("mapping", JSON, nullable=False),
        sa.Column("config", JSON, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column("lease_expires_at", TIMESTAMP, nullable=True),
        sa.Column("worker_id", sa.String(200), nullable=True),
        sa.Column("dispatch_token", sa.String(36), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        created_at(),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("final_metrics", JSON, nullable=True),
        sa.CheckConstraint(
            "state IN ('queued', 'running', 'cancelling', 'interrupted', 'succeeded', 'failed', 'cancelled')",
            name="ck_jobs_state",
        ),
        sa.CheckConstraint("attempt >= 0", name="ck_jobs_attempt"),
        sa.CheckConstraint("max_attempts >= 1", name="ck_jobs_max_attempts"),
        sa.CheckConstraint("dataset_id IS NULL OR builtin_dataset IS NULL", name="ck_jobs_one_dataset"),
        sa.ForeignKeyConstraint(["graph_version_id"], ["graph_versions.id"],
                                name="fk_jobs_graph_version_id_graph_versions", ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["dataset_id"], ["datasets.id"], name="fk_jobs_dataset_id_datasets",
                                ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name="pk_jobs"),
    )
    op.create_index("ix_jobs_owner_id_created_at", "jobs", ["owner_id", "created_at"])
    op.create_index("ix_jobs_state_lease_expires_at", "jobs", ["state", "lease_expires_at"])
    op.create_index("ix_jobs_graph_version_id", "jobs", ["graph_version_id"])
    op.create_index("ix_jobs_dataset_id", "jobs", ["dataset_id"])

    op.create_table(
        "job_events",
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("type", sa.String(32), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        created_at(),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_job_events_job_id_jobs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("job_id", "seq", name="pk_job_events"),
    )
    op.create_table(
        "artifacts",
        id_column(),
        sa.Column("job_id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("path", sa.String(500), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        created_at(),
        sa.CheckConstraint(
            "kind IN ('weights_safetensors', 'weights_pt', 'graph', 'manifest', 'checkpoint', 'history')",
            name="ck_artifacts_kind",
        ),
        sa.ForeignKeyConstraint(["job_id"], ["jobs.id"], name="fk_artifacts_job_id_jobs", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_artifacts"),
        sa.UniqueConstraint("job_id", "path", name="uq_artifacts_job_id_path"),
    )


def downgrade() -> None:
    # Children first; dropping a table drops its indexes.
    for table in ("artifacts", "job_events", "jobs", "datasets", "graph_versions", "graphs", "api_tokens", "users"):
        op.drop_table(table)
