"""Letta wire fields: an agent's structured-output format, and a run's completion callback.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 17:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("agents") as batch:
        batch.add_column(sa.Column("response_format", JSON, nullable=True))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("callback_url", sa.Text(), nullable=True))
        batch.add_column(sa.Column("callback_sent_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("callback_status_code", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("callback_error", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("callback_error")
        batch.drop_column("callback_status_code")
        batch.drop_column("callback_sent_at")
        batch.drop_column("callback_url")
    with op.batch_alter_table("agents") as batch:
        batch.drop_column("response_format")
