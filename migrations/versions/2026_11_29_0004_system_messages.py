"""Every agent's history starts with its system message (Letta's ``message_ids[0]``).

Agents created before this revision have none: each gets one at seq 0 holding its system
prompt. Lists show the live compiled prompt in its place, so the stored text only has to mark
the start of the history.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 18:10:00
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

agents = sa.table(
    "agents",
    sa.column("id", sa.String),
    sa.column("organization_id", sa.String),
    sa.column("system", sa.Text),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
messages = sa.table(
    "messages",
    sa.column("id", sa.String),
    sa.column("organization_id", sa.String),
    sa.column("agent_id", sa.String),
    sa.column("seq", sa.BigInteger),
    sa.column("role", sa.String),
    sa.column("content", JSON),
    sa.column("is_err", sa.Boolean),
    sa.column("created_at", sa.DateTime(timezone=True)),
)
BATCH = 500


def upgrade() -> None:
    connection = op.get_bind()
    has_system = (
        sa.select(messages.c.id)
        .where(messages.c.agent_id == agents.c.id, messages.c.seq == 0)
        .exists()
    )
    missing = connection.execute(
        sa.select(agents.c.id, agents.c.organization_id, agents.c.system, agents.c.created_at)
        .where(~has_system)
        .order_by(agents.c.id)
    ).all()
    for start in range(0, len(missing), BATCH):
        rows = [
            {
                "id": f"message-{uuid.uuid4()}",
                "organization_id": org,
                "agent_id": agent_id,
                "seq": 0,
                "role": "system",
                "content": [{"type": "text", "text": system}],
                "is_err": False,
                "created_at": created,
            }
            for agent_id, org, system, created in missing[start : start + BATCH]
        ]
        op.bulk_insert(messages, rows)


def downgrade() -> None:
    op.execute(messages.delete().where(messages.c.seq == 0, messages.c.role == "system"))
