"""Turns: one active turn per agent, and the pending approval on the agent row.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 07:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ACTIVE_TURN = sa.text("kind IN ('foreground', 'async') AND status IN ('created', 'running')")

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("pending_approval", JSON, nullable=True))
    op.create_index(
        "ux_runs_agent_active_turn",
        "runs",
        ["agent_id"],
        unique=True,
        sqlite_where=ACTIVE_TURN,
        postgresql_where=ACTIVE_TURN,
    )


def downgrade() -> None:
    op.drop_index("ux_runs_agent_active_turn", table_name="runs")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("pending_approval")
