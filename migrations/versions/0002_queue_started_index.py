"""Index jobs by (queue, started_at): the reconciler's queue-progress query.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_jobs_queue_started", "jobs", ["queue", "started_at"])


def downgrade() -> None:
    op.drop_index("ix_jobs_queue_started", table_name="jobs")
