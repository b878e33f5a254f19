"""Conversations: threads of one agent, and what context compaction keeps.

An agent's main thread is its messages and runs with no ``conversation_id``; every other
conversation has a row here with its own in-context window (``context_start_seq``), summary
message and pending approval. One active turn per thread: the per-agent index now covers the
main thread only, and a second one covers each conversation.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
ACTIVE_TURN = "kind IN ('foreground', 'async') AND status IN ('created', 'running')"
MAIN_THREAD_TURN = sa.text(f"{ACTIVE_TURN} AND conversation_id IS NULL")
CONVERSATION_TURN = sa.text(f"{ACTIVE_TURN} AND conversation_id IS NOT NULL")
IN_CONVERSATION = sa.text("conversation_id IS NOT NULL")

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _partial(name: str, table: str, columns: list[str], where: sa.TextClause, **kw: bool) -> None:
    op.create_index(name, table, columns, sqlite_where=where, postgresql_where=where, **kw)


def upgrade() -> None:
    op.create_table(
        "conversations",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("agent_id", sa.String(length=64), nullable=False),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column("context_start_seq", sa.BigInteger(), nullable=False),
        sa.Column("summary_message_id", sa.String(length=64), nullable=True),
        sa.Column("pending_approval", JSON, nullable=True),
        sa.Column("is_deleted", sa.Boolean(), nullable=False),
        sa.Column("created_by_id", sa.String(length=64), nullable=True),
        sa.Column("last_updated_by_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organization_id"],
            ["organizations.id"],
            name=op.f("fk_conversations_organization_id_organizations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
            name=op.f("fk_conversations_agent_id_agents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
    )
    op.create_index(
        "ix_conversations_org_created", "conversations", ["organization_id", "created_at", "id"]
    )
    op.create_index("ix_conversations_agent_created", "conversations", ["agent_id", "created_at"])
    # Plain ADD COLUMNs: recreating ``agents`` on SQLite would cascade into its messages.
    op.add_column("agents", sa.Column("summary_message_id", sa.String(length=64), nullable=True))
    op.add_column("agents", sa.Column("compaction_settings", JSON, nullable=True))
    op.add_column("messages", sa.Column("conversation_id", sa.String(length=64), nullable=True))
    op.add_column("runs", sa.Column("conversation_id", sa.String(length=64), nullable=True))
    _partial("ix_messages_conversation", "messages", ["conversation_id", "seq"], IN_CONVERSATION)
    _partial("ix_runs_conversation", "runs", ["conversation_id", "created_at"], IN_CONVERSATION)
    op.drop_index("ux_runs_agent_active_turn", table_name="runs")
    _partial("ux_runs_agent_active_turn", "runs", ["agent_id"], MAIN_THREAD_TURN, unique=True)
    _partial(
        "ux_runs_conversation_active_turn",
        "runs",
        ["conversation_id"],
        CONVERSATION_TURN,
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("ux_runs_conversation_active_turn", table_name="runs")
    op.drop_index("ux_runs_agent_active_turn", table_name="runs")
    _partial("ux_runs_agent_active_turn", "runs", ["agent_id"], sa.text(ACTIVE_TURN), unique=True)
    op.drop_index("ix_runs_conversation", table_name="runs")
    op.drop_index("ix_messages_conversation", table_name="messages")
    # In place on both databases (SQLite 3.35+), for the reason ``upgrade`` gives.
    op.execute("ALTER TABLE runs DROP COLUMN conversation_id")
    op.execute("ALTER TABLE messages DROP COLUMN conversation_id")
    op.execute("ALTER TABLE agents DROP COLUMN compaction_settings")
    op.execute("ALTER TABLE agents DROP COLUMN summary_message_id")
    op.drop_index("ix_conversations_agent_created", table_name="conversations")
    op.drop_index("ix_conversations_org_created", table_name="conversations")
    op.drop_table("conversations")
