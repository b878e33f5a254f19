"""Registered tools, MCP servers, and the environment an agent's tools run with.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 22:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _org_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["organization_id"],
        ["organizations.id"],
        name=op.f(f"fk_{table}_organization_id_organizations"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "mcp_servers",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("server_name", sa.String(length=255), nullable=False),
        sa.Column("server_type", sa.String(length=32), nullable=False),
        sa.Column("server_url", sa.Text(), nullable=True),
        sa.Column("stdio_config", JSON, nullable=True),
        sa.Column("token", sa.Text(), nullable=True),
        sa.Column("custom_headers", JSON, nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("created_by_id", sa.String(length=64), nullable=True),
        sa.Column("last_updated_by_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _org_fk("mcp_servers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_mcp_servers")),
        sa.UniqueConstraint("organization_id", "server_name", name="uq_mcp_servers_org_name"),
    )
    op.create_index(
        "ix_mcp_servers_org_created", "mcp_servers", ["organization_id", "created_at", "id"]
    )
    op.create_table(
        "tools",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("organization_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tool_type", sa.String(length=64), nullable=False),
        sa.Column("source_type", sa.String(length=32), nullable=True),
        sa.Column("source_code", sa.Text(), nullable=True),
        sa.Column("json_schema", JSON, nullable=False),
        sa.Column("args_json_schema", JSON, nullable=True),
        sa.Column("tags", JSON, nullable=False),
        sa.Column("return_char_limit", sa.Integer(), nullable=False),
        sa.Column("pip_requirements", JSON, nullable=True),
        sa.Column("npm_requirements", JSON, nullable=True),
        sa.Column("default_requires_approval", sa.Boolean(), nullable=False),
        sa.Column("enable_parallel_execution", sa.Boolean(), nullable=False),
        sa.Column("mcp_server_id", sa.String(length=64), nullable=True),
        sa.Column("metadata", JSON, nullable=False),
        sa.Column("created_by_id", sa.String(length=64), nullable=True),
        sa.Column("last_updated_by_id", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _org_fk("tools"),
        sa.ForeignKeyConstraint(
            ["mcp_server_id"],
            ["mcp_servers.id"],
            name=op.f("fk_tools_mcp_server_id_mcp_servers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tools")),
        sa.UniqueConstraint("organization_id", "name", name="uq_tools_org_name"),
    )
    op.create_index("ix_tools_org_created", "tools", ["organization_id", "created_at", "id"])
    op.create_index(op.f("ix_tools_mcp_server_id"), "tools", ["mcp_server_id"])
    # A plain ADD COLUMN: recreating ``agents`` on SQLite would cascade into its messages.
    # The default fills existing rows; on SQLite it stays (SQLite cannot drop one in place).
    op.add_column("agents", sa.Column("secrets", JSON, nullable=False, server_default="{}"))
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("agents", "secrets", server_default=None)


def downgrade() -> None:
    # In place on both databases (SQLite 3.35+), for the reason ``upgrade`` gives.
    op.execute("ALTER TABLE agents DROP COLUMN secrets")
    op.drop_index(op.f("ix_tools_mcp_server_id"), table_name="tools")
    op.drop_index("ix_tools_org_created", table_name="tools")
    op.drop_table("tools")
    op.drop_index("ix_mcp_servers_org_created", table_name="mcp_servers")
    op.drop_table("mcp_servers")
