"""Archival: which archive version wrote each passage, and a count of deletions per archive,
so a process's cached vectors are brought up to date by what changed (``app.archival.vectors``).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ADD COLUMNs; rows written before carry version 0 (older than any cached entry).
    op.add_column(
        "archives",
        sa.Column("passages_deleted", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column(
        "passages",
        sa.Column("written_version", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_index("ix_passages_archive_written", "passages", ["archive_id", "written_version"])
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("archives", "passages_deleted", server_default=None)
        op.alter_column("passages", "written_version", server_default=None)


def downgrade() -> None:
    op.drop_index("ix_passages_archive_written", table_name="passages")
    op.execute("ALTER TABLE passages DROP COLUMN written_version")
    op.execute("ALTER TABLE archives DROP COLUMN passages_deleted")
