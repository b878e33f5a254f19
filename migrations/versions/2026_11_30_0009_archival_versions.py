"""Archival: which archive version wrote each passage, and a count of deletions per archive,
so a process's cached vectors are brought up to date by what changed (``app.archival.vectors``);
and the sleeptime group setting that lets its agents file passages into the primary's archive.
On PostgreSQL, each passage's text search vector is stored (a generated column) and indexed,
so ranking a match reads it instead of parsing the text again.

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

_POSTGRES_UP = (
    "ALTER TABLE passages ADD COLUMN text_search tsvector"
    " GENERATED ALWAYS AS (to_tsvector('english', text)) STORED",
    "DROP INDEX ix_passages_fts",
    "CREATE INDEX ix_passages_fts ON passages USING gin (text_search)",
)
_POSTGRES_DOWN = (
    "DROP INDEX ix_passages_fts",
    "ALTER TABLE passages DROP COLUMN text_search",
    "CREATE INDEX ix_passages_fts ON passages USING gin (to_tsvector('english', text))",
)


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
    op.add_column(
        "groups",
        sa.Column(
            "sleeptime_archival_insert", sa.Boolean(), nullable=False, server_default=sa.false()
        ),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("archives", "passages_deleted", server_default=None)
        op.alter_column("passages", "written_version", server_default=None)
        op.alter_column("groups", "sleeptime_archival_insert", server_default=None)
        for statement in _POSTGRES_UP:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in _POSTGRES_DOWN:
            op.execute(statement)
    op.execute("ALTER TABLE groups DROP COLUMN sleeptime_archival_insert")
    op.drop_index("ix_passages_archive_written", table_name="passages")
    op.execute("ALTER TABLE passages DROP COLUMN written_version")
    op.execute("ALTER TABLE archives DROP COLUMN passages_deleted")
