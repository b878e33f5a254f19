from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, JSONType, TimestampMixin


class MCPServer(TimestampMixin, Base):
    """An MCP server an organization registered: stdio (a command this server starts), SSE
    or streamable HTTP (a URL it connects to)."""

    __tablename__ = "mcp_servers"
    __table_args__ = (
        UniqueConstraint("organization_id", "server_name", name="uq_mcp_servers_org_name"),
        Index("ix_mcp_servers_org_created", "organization_id", "created_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    server_name: Mapped[str] = mapped_column(String(255))
    server_type: Mapped[str] = mapped_column(String(32))
    server_url: Mapped[str | None] = mapped_column(Text)
    # stdio: {"command": ..., "args": [...], "env": {...}}
    stdio_config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    token: Mapped[str | None] = mapped_column(Text)
    custom_headers: Mapped[dict[str, str] | None] = mapped_column(JSONType)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    created_by_id: Mapped[str | None] = mapped_column(String(64))
    last_updated_by_id: Mapped[str | None] = mapped_column(String(64))
