"""Run rules without kind lists: each run carries what its kind's policy rules for it (``turn``:
one active turn per thread; ``joins``: one waiting and one running run per agent and kind), and
the partial indexes that hold those rules test these flags instead of naming kinds. Only runs
of queued kinds ever wait, so the queue's index tests the status alone. A new run kind then
needs no new index.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ACTIVE = "status IN ('created', 'running')"
_OLD_TURN = f"kind IN ('foreground', 'async') AND {_ACTIVE}"
_NEW_TURN = f"turn AND {_ACTIVE}"
_MAIN_THREAD = "conversation_id IS NULL"
_CONVERSATION = "conversation_id IS NOT NULL"

# name -> (columns, predicate before, predicate after)
_INDEXES: dict[str, tuple[list[str], str, str]] = {
    "ix_runs_queue": (
        ["available_at", "created_at"],
        "status = 'created' AND kind IN ('async', 'sleeptime')",
        "status = 'created'",
    ),
    "ux_runs_agent_active_turn": (
        ["agent_id"],
        f"{_OLD_TURN} AND {_MAIN_THREAD}",
        f"{_NEW_TURN} AND {_MAIN_THREAD}",
    ),
    "ux_runs_conversation_active_turn": (
        ["conversation_id"],
        f"{_OLD_TURN} AND {_CONVERSATION}",
        f"{_NEW_TURN} AND {_CONVERSATION}",
    ),
}
# The sleeptime kind's two indexes become those of every joining kind (renamed).
_JOINED = {
    "ux_runs_sleeptime_created": ("ux_runs_joined_waiting", "created"),
    "ux_runs_sleeptime_running": ("ux_runs_joined_running", "running"),
}


def _partial(name: str, columns: list[str], where: str, unique: bool) -> None:
    clause = sa.text(where)
    op.create_index(
        name, "runs", columns, unique=unique, sqlite_where=clause, postgresql_where=clause
    )


def upgrade() -> None:
    # Plain ADD COLUMNs, filled from the kinds' policies as they stand at this revision.
    for column in ("turn", "joins"):
        op.add_column(
            "runs", sa.Column(column, sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute(
        "UPDATE runs SET turn = (kind IN ('foreground', 'async')), joins = (kind = 'sleeptime')"
    )
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("runs", "turn", server_default=None)
        op.alter_column("runs", "joins", server_default=None)
    for name, (columns, _before, after) in _INDEXES.items():
        op.drop_index(name, table_name="runs")
        _partial(name, columns, after, unique=name.startswith("ux_"))
    for old, (new, status) in _JOINED.items():
        op.drop_index(old, table_name="runs")
        _partial(new, ["agent_id", "kind"], f"joins AND status = '{status}'", unique=True)


def downgrade() -> None:
    for old, (new, status) in _JOINED.items():
        op.drop_index(new, table_name="runs")
        _partial(old, ["agent_id"], f"kind = 'sleeptime' AND status = '{status}'", unique=True)
    for name, (columns, before, _after) in _INDEXES.items():
        op.drop_index(name, table_name="runs")
        _partial(name, columns, before, unique=name.startswith("ux_"))
    # In place on both databases (SQLite 3.35+): recreating ``runs`` would cascade.
    op.execute("ALTER TABLE runs DROP COLUMN joins")
    op.execute("ALTER TABLE runs DROP COLUMN turn")
