"""An MCP server's tools as the organization's registered tools (``tool_type: external_mcp``),
so agents take them like any other tool, and what a call of one gives back.

A row is named after the MCP tool, carries the server in ``mcp_server_id`` and, as Letta
keeps it, in ``metadata_["mcp"]`` (``server_name``, ``server_id``) and the tag
``mcp:<server name>``; its ``json_schema`` is the MCP tool's ``inputSchema`` as the
parameters. Names are unique in an organization: a tool of the same name that is not this
server's (registered Python, or another server's) is never overwritten.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.mcp.models import MCPServer
from app.tools.models import Tool as ToolRow
from app.tools.repository import upsert

if TYPE_CHECKING:
    from mcp_types import CallToolResult, ContentBlock, Tool

MCP_TOOL_TYPE = "external_mcp"
MCP_KEY = "mcp"


def usable(tool: Tool) -> bool:
    """Whether a model can be offered the tool: its parameters are a JSON object schema."""
    return tool.input_schema.get("type") == "object"


def json_schema_of(tool: Tool) -> dict[str, Any]:
    parameters = dict(tool.input_schema)
    parameters.setdefault("properties", {})
    parameters.setdefault("required", [])
    return {"name": tool.name, "description": tool.description or "", "parameters": parameters}


def listed(tool: Tool) -> dict[str, Any]:
    """The MCP tool as Letta lists it (the protocol's own field names)."""
    return tool.model_dump(mode="json", by_alias=True, exclude_none=True)


def _fields(server: MCPServer, tool: Tool) -> dict[str, Any]:
    return {
        "description": tool.description,
        "json_schema": json_schema_of(tool),
        "tags": [f"{MCP_KEY}:{server.server_name}"],
        "metadata_": {MCP_KEY: {"server_name": server.server_name, "server_id": server.id}},
    }


class ServerTools:
    """One server's tool rows, in the caller's transaction."""

    def __init__(self, session: AsyncSession, server: MCPServer) -> None:
        self.session = session
        self.server = server

    async def rows(self) -> Sequence[ToolRow]:
        stmt = (
            select(ToolRow)
            .where(
                ToolRow.organization_id == self.server.organization_id,
                ToolRow.mcp_server_id == self.server.id,
            )
            .order_by(ToolRow.created_at, ToolRow.id)
        )
        return (await self.session.scalars(stmt)).all()

    async def named(self, name: str) -> ToolRow | None:
        stmt = select(ToolRow).where(
            ToolRow.organization_id == self.server.organization_id, ToolRow.name == name
        )
        return await self.session.scalar(stmt)

    async def upsert(self, tool: Tool, existing: ToolRow | None) -> tuple[ToolRow, bool]:
        """Write the MCP tool's row (``existing`` is this server's row of that name, if any).
        Returns the row and whether it changed."""
        fields = _fields(self.server, tool)
        if existing is not None and all(getattr(existing, k) == v for k, v in fields.items()):
            return existing, False
        row, _ = await upsert(
            self.session,
            self.server.organization_id,
            tool.name,
            tool_type=MCP_TOOL_TYPE,
            mcp_server_id=self.server.id,
            **fields,
        )
        return row, True

    async def renamed(self) -> None:
        """Carry a new server name into its tools' tags and metadata."""
        for row in await self.rows():
            row.tags = [f"{MCP_KEY}:{self.server.server_name}"]
            row.metadata_ = {
                **(row.metadata_ or {}),
                MCP_KEY: {"server_name": self.server.server_name, "server_id": self.server.id},
            }
        await self.session.flush()

    async def delete(self, row: ToolRow) -> None:
        await self.session.delete(row)
        await self.session.flush()


def _block_text(block: ContentBlock) -> str:
    from mcp_types import TextContent  # noqa: PLC0415 - loaded with the SDK, when used

    if isinstance(block, TextContent):
        return block.text
    data = block.model_dump(mode="json", by_alias=True, exclude_none=True)
    resource = data.get("resource")
    if isinstance(resource, dict) and isinstance(resource.get("text"), str):
        return str(resource["text"])
    data.pop("data", None)  # base64 images and audio: the model is told what came, not shown it
    return json.dumps(data, ensure_ascii=False)


def result_text(result: CallToolResult) -> str:
    """What the model is shown of a tool call's result: its content, one block per line, or
    its structured content when it has no other."""
    parts = [_block_text(block) for block in result.content]
    if not parts and result.structured_content is not None:
        return json.dumps(result.structured_content, ensure_ascii=False)
    return "\n".join(parts)
