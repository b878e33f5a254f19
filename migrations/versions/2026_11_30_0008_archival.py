"""Archival memory: archives, their agents, passages with tags and embeddings, and full-text
indexes (FTS5 on SQLite, a GIN index over ``to_tsvector`` on PostgreSQL).

The full-text structures are not models: they are derived from ``passages.text`` (by triggers
on SQLite, by the index expression on PostgreSQL) and named in ``app.archival.fulltext``.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BLOB = sa.LargeBinary().with_variant(postgresql.BYTEA(), "postgresql")

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE passages_fts USING fts5("
    "text, content='passages', content_rowid='rowid', tokenize='porter unicode61')",
    "CREATE TRIGGER passages_fts_insert AFTER INSERT ON passages BEGIN "
    "INSERT INTO passages_fts(rowid, text) VALUES (new.rowid, new.text); END",
    "CREATE TRIGGER passages_fts_delete AFTER DELETE ON passages BEGIN "
    "INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.rowid, old.text);"
    " END",
    "CREATE TRIGGER passages_fts_update AFTER UPDATE OF text ON passages BEGIN "
    "INSERT INTO passages_fts(passages_fts, rowid, text) VALUES ('delete', old.rowid, old.text);"
    " INSERT INTO passages_fts(rowid, text) VALUES (new.rowid, new.text); END",
)
_POSTGRES_FTS = (
    "CREATE INDEX ix_passages_fts ON passages USING gin (to_tsvector('english', text))",
)


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
        ondelete="CASCADE",
    )


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    ]


def upgrade() -> None:
    op.create_table(
        "archives",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("embedding", sa.String(length=255), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("passages_version", sa.BigInteger(), nullable=False),
        *_timestamps(),
        _org_fk("archives"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_archives")),
    )
    op.create_index("ix_archives_org_created", "archives", ["organization_id", "created_at", "id"])
    op.create_table(
        "archives_agents",
        sa.Column("archive_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("is_owner", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("archives_agents", "archive_id", "archives"),
        _fk("archives_agents", "agent_id", "agents"),
        _org_fk("archives_agents"),
        sa.PrimaryKeyConstraint("archive_id", "agent_id", name=op.f("pk_archives_agents")),
    )
    op.create_index(op.f("ix_archives_agents_agent_id"), "archives_agents", ["agent_id"])
    op.create_table(
        "passages",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("archive_id", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("embedding", BLOB, nullable=True),
        sa.Column("embedding_model", sa.String(length=255), nullable=True),
        sa.Column("embedding_dim", sa.Integer(), nullable=True),
        sa.Column("agent_id", sa.String(length=64), nullable=True),
        sa.Column("run_id", sa.String(length=64), nullable=True),
        *_timestamps(),
        _fk("passages", "archive_id", "archives"),
        _org_fk("passages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_passages")),
    )
    op.create_index("ix_passages_archive_created", "passages", ["archive_id", "created_at", "id"])
    op.create_index("ix_passages_archive_model", "passages", ["archive_id", "embedding_model"])
    op.create_table(
        "passage_tags",
        sa.Column("passage_id", sa.String(length=64), nullable=False),
        sa.Column("tag", sa.String(length=255), nullable=False),
        sa.Column("archive_id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        _fk("passage_tags", "passage_id", "passages"),
        _org_fk("passage_tags"),
        sa.PrimaryKeyConstraint("passage_id", "tag", name=op.f("pk_passage_tags")),
    )
    op.create_index("ix_passage_tags_archive_tag", "passage_tags", ["archive_id", "tag"])
    sqlite = op.get_bind().dialect.name == "sqlite"
    for statement in _SQLITE_FTS if sqlite else _POSTGRES_FTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER passages_fts_{trigger}")
        op.execute("DROP TABLE passages_fts")
    op.drop_table("passage_tags")
    op.drop_table("passages")
    op.drop_table("archives_agents")
    op.drop_table("archives")
