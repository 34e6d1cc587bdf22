"""jobs.event_seq: a per-job counter that numbers job events atomically

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

``append_event`` used to take max(seq) + 1, so two writers (the API's cancel and the worker's relay)
could take the same number. The counter is incremented with one ``UPDATE … RETURNING``, which
locks the job's row until the event is committed. Existing jobs start from their highest seq.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("event_seq", sa.Integer(), server_default="0", nullable=False))
    op.execute("UPDATE jobs SET event_seq = COALESCE((SELECT MAX(seq) FROM job_events "
               "WHERE job_events.job_id = jobs.id), 0)")


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("event_seq")
