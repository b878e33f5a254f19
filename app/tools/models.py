from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, JSONType, TimestampMixin


class Tool(TimestampMixin, Base):
    """A tool registered by an organization: Python source run in the sandbox, or a tool of
    one of its MCP servers. The built-in tools are not rows: they are the same everywhere."""

    __tablename__ = "tools"
    __table_args__ = (
        UniqueConstraint("organization_id", "name", name="uq_tools_org_name"),
        Index("ix_tools_org_created", "organization_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    tool_type: Mapped[str] = mapped_column(String(64))
    source_type: Mapped[str | None] = mapped_column(String(32))
    source_code: Mapped[str | None] = mapped_column(Text)
    json_schema: Mapped[dict[str, Any]] = mapped_column(JSONType)
    args_json_schema: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    return_char_limit: Mapped[int] = mapped_column(Integer)
    pip_requirements: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    npm_requirements: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    default_requires_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    enable_parallel_execution: Mapped[bool] = mapped_column(Boolean, default=False)
    # The MCP server an ``external_mcp`` tool belongs to (Letta keeps it in metadata too).
    mcp_server_id: Mapped[str | None] = mapped_column(
        ForeignKey("mcp_servers.id", ondelete="CASCADE"), index=True
    )
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_by_id: Mapped[str | None] = mapped_column(String(64))
    last_updated_by_id: Mapped[str | None] = mapped_column(String(64))
