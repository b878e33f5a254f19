"""Conversation options: hidden conversations, a per-conversation model, forked messages.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs (recreating ``messages`` on SQLite would be slow and pointless).
    op.add_column(
        "conversations",
        sa.Column("hidden", sa.Boolean(), nullable=False, server_default=sa.false()),
    )
    op.add_column("conversations", sa.Column("model", sa.String(length=255), nullable=True))
    op.add_column("conversations", sa.Column("model_settings", JSON, nullable=True))
    op.add_column("conversations", sa.Column("context_window_limit", sa.Integer(), nullable=True))
    op.add_column("messages", sa.Column("forked_from_id", sa.String(length=64), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("conversations", "hidden", server_default=None)


def downgrade() -> None:
    # In place on both databases (SQLite 3.35+).
    op.execute("ALTER TABLE messages DROP COLUMN forked_from_id")
    for column in ("context_window_limit", "model_settings", "model", "hidden"):
        op.execute(f"ALTER TABLE conversations DROP COLUMN {column}")
