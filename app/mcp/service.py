"""MCP servers of an organization: their rows, their tools, and calls to them.

No transaction is held while an MCP server is talked to: a route writes what it must in a
short transaction of its own, calls the server with none open, and writes the outcome in
another (a slow MCP server never holds SQLite's write lock or a PostgreSQL row lock).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import structlog

from app.kit.db import Database
from app.kit.errors import AppError, BadGateway, BadRequest, Conflict, NotFound
from app.kit.ids import Prefix, new_id
from app.mcp.config import (
    AUTH_HEADER_KEY,
    AUTHORIZATION,
    ServerConfig,
    Transport,
    auth_header_of,
    bare_token,
)
from app.mcp.models import MCPServer
from app.mcp.pool import MCPCallFailed, MCPFailure, MCPPool, MCPTimeout, StdioDisabled
from app.mcp.repository import MCPServerRepository
from app.mcp.schemas import ResyncResult
from app.mcp.tools import ServerTools, result_text, usable
from app.tools.builtin import BUILTIN_TOOLS
from app.tools.models import Tool as ToolRow
from app.tools.run import ToolResult, failed, ok

if TYPE_CHECKING:
    from mcp_types import Tool

log = structlog.get_logger("app.mcp")


class GatewayTimeout(AppError):
    status_code = 504


class NameTaken(Conflict):
    code = "MCPServerNameAlreadyExistsError"


@dataclass(frozen=True, slots=True)
class Spec:
    """A server's whole configuration, as a request describes it."""

    transport: Transport
    command: str | None = None
    args: list[str] = field(default_factory=list)
    env: dict[str, str] | None = None
    url: str | None = None
    auth_header: str | None = None
    token: str | None = None  # bare, without ``Bearer ``
    custom_headers: dict[str, str] | None = None

    @classmethod
    def of(cls, row: MCPServer) -> Spec:
        stdio: dict[str, Any] = row.stdio_config or {}
        return cls(
            Transport(row.server_type),
            command=stdio.get("command"),
            args=list(stdio.get("args") or []),
            env=stdio.get("env"),
            url=row.server_url,
            auth_header=auth_header_of(row) if row.token else None,
            token=row.token,
            custom_headers=row.custom_headers,
        )

    def checked(self) -> Spec:
        if self.transport is Transport.stdio:
            if not self.command:
                raise BadRequest("config.command: a stdio MCP server needs a command")
            return self
        parts = urlsplit(self.url or "")
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise BadRequest(f"config.server_url: {self.url!r} is not an http:// or https:// URL")
        return self

    def apply(self, row: MCPServer) -> None:
        stdio = self.transport is Transport.stdio
        row.server_type = self.transport.value
        row.stdio_config = (
            {"command": self.command, "args": list(self.args), "env": self.env} if stdio else None
        )
        row.server_url = None if stdio else self.url
        row.token = None if stdio else self.token or None
        row.custom_headers = None if stdio else self.custom_headers
        metadata = {k: v for k, v in (row.metadata_ or {}).items() if k != AUTH_HEADER_KEY}
        header = self.auth_header
        if not stdio and self.token and header and header.lower() != AUTHORIZATION.lower():
            metadata[AUTH_HEADER_KEY] = header
        row.metadata_ = metadata


def url_spec(
    transport: Transport,
    url: str | None,
    auth_header: str | None,
    auth_token: str | None,
    custom_headers: dict[str, str] | None,
) -> Spec:
    return Spec(
        transport,
        url=url,
        auth_header=auth_header,
        token=bare_token(auth_token),
        custom_headers=custom_headers,
    )


def http_error(exc: MCPFailure) -> AppError:
    """How a route answers a failure to talk to an MCP server."""
    if isinstance(exc, StdioDisabled):
        return BadRequest(exc.message)
    if isinstance(exc, MCPTimeout):
        return GatewayTimeout(exc.message)
    return BadGateway(exc.message)


class MCPService:
    """Everything the routes and the tool runner do with MCP servers, for one process."""

    def __init__(self, db: Database, pool: MCPPool) -> None:
        self.db = db
        self.pool = pool

    # --- rows

    async def list_servers(self, organization_id: str) -> Sequence[MCPServer]:
        async with self.db.session(write=False) as session:
            return await MCPServerRepository(session, organization_id).all()

    async def get(self, organization_id: str, server_id: str) -> MCPServer:
        async with self.db.session(write=False) as session:
            row = await MCPServerRepository(session, organization_id).get(server_id)
        if row is None:
            raise NotFound(f"MCP server with id {server_id} not found.")
        return row

    async def get_by_name(self, organization_id: str, name: str) -> MCPServer:
        async with self.db.session(write=False) as session:
            row = await MCPServerRepository(session, organization_id).get_by_name(name)
        if row is None:
            raise NotFound(f"MCP server {name} not found")
        return row

    def _allowed(self, spec: Spec) -> Spec:
        if spec.transport is Transport.stdio and not self.pool.allow_stdio:
            raise BadRequest(
                "stdio MCP servers are disabled on this server (SLEEPTIME_MCP_STDIO=false): "
                "add the server over SSE or streamable HTTP"
            )
        return spec.checked()

    async def create(self, organization_id: str, name: str, spec: Spec) -> MCPServer:
        """Store the server, then register its tools if it answers (best effort, as Letta
        does: a server that is down is still stored, and ``refresh`` registers them later)."""
        spec = self._allowed(spec)
        async with self.db.session() as session:
            repo = MCPServerRepository(session, organization_id)
            if await repo.get_by_name(name) is not None:
                raise NameTaken(f"MCP server with name '{name}' already exists", server_name=name)
            row = MCPServer(
                id=new_id(Prefix.mcp_server),
                organization_id=organization_id,
                server_name=name,
                metadata_={},
            )
            spec.apply(row)
            repo.add(row)
            await session.flush()
        try:
            await self.resync(organization_id, row)
        except MCPFailure as exc:
            log.warning("mcp.tools_not_synced", server=name, error=exc.message)
        return row

    async def update(
        self, organization_id: str, server_id: str, name: str | None, spec: Spec | None
    ) -> MCPServer:
        async with self.db.session() as session:
            repo = MCPServerRepository(session, organization_id)
            row = await repo.get(server_id, for_update=True)
            if row is None:
                raise NotFound(f"MCP server with id {server_id} not found.")
            if spec is not None:
                self._allowed(spec).apply(row)
            if name is not None and name != row.server_name:
                if await repo.get_by_name(name) is not None:
                    raise NameTaken(
                        f"MCP server with name '{name}' already exists", server_name=name
                    )
                row.server_name = name
                await session.flush()
                await ServerTools(session, row).renamed()
            await session.flush()
        await self.pool.discard(server_id)
        return row

    async def delete(self, organization_id: str, server_id: str) -> None:
        async with self.db.session() as session:
            deleted = await MCPServerRepository(session, organization_id).delete(server_id)
        if not deleted:
            raise NotFound(f"MCP server with id {server_id} not found.")
        await self.pool.discard(server_id)

    # --- tools

    async def tool_rows(self, organization_id: str, server_id: str) -> Sequence[ToolRow]:
        server = await self.get(organization_id, server_id)
        async with self.db.session(write=False) as session:
            return await ServerTools(session, server).rows()

    async def tool_row(self, organization_id: str, server_id: str, tool_id: str) -> ToolRow:
        for row in await self.tool_rows(organization_id, server_id):
            if row.id == tool_id:
                return row
        raise NotFound(f"Tool {tool_id} not found on MCP server {server_id}.")

    async def live_tools(self, server: MCPServer) -> list[Tool]:
        return await self.pool.list_tools(ServerConfig.of(server).filled({}))

    async def resync(self, organization_id: str, server: MCPServer) -> ResyncResult:
        """Make the server's tool rows what the server lists now."""
        current = {tool.name: tool for tool in await self.live_tools(server) if usable(tool)}
        result = ResyncResult()
        async with self.db.session() as session:
            row = await MCPServerRepository(session, organization_id).get(server.id)
            if row is None:
                raise NotFound(f"MCP server with id {server.id} not found.")
            tools = ServerTools(session, row)
            stored = {tool.name: tool for tool in await tools.rows()}
            for name, tool_row in stored.items():
                if name not in current:
                    await tools.delete(tool_row)
                    result.deleted.append(name)
            for name, tool in current.items():
                if name in BUILTIN_TOOLS or (
                    name not in stored and await tools.named(name) is not None
                ):
                    log.warning("mcp.tool_name_taken", server=row.server_name, tool=name)
                    continue
                _, changed = await tools.upsert(tool, stored.get(name))
                if name not in stored:
                    result.added.append(name)
                elif changed:
                    result.updated.append(name)
        return result

    async def register(self, organization_id: str, server: MCPServer, tool_name: str) -> ToolRow:
        """Register one of the server's tools (Letta's ``add_mcp_tool``)."""
        tools = await self.live_tools(server)
        tool = next((t for t in tools if t.name == tool_name), None)
        if tool is None:
            available = ", ".join(t.name for t in tools)
            raise BadRequest(
                f"Tool {tool_name} not found in MCP server {server.server_name} - "
                f"available tools: {available}"
            )
        if not usable(tool):
            raise BadRequest(
                f"Tool {tool_name} cannot be attached: its inputSchema is not an object"
            )
        async with self.db.session() as session:
            row = await MCPServerRepository(session, organization_id).get(server.id)
            if row is None:
                raise NotFound(f"MCP server {server.server_name} not found")
            rows = ServerTools(session, row)
            existing = await rows.named(tool_name)
            if tool_name in BUILTIN_TOOLS or (
                existing is not None and existing.mcp_server_id != row.id
            ):
                raise Conflict(
                    f"A tool named '{tool_name}' already exists and does not belong to MCP "
                    f"server {row.server_name}"
                )
            tool_row, _ = await rows.upsert(tool, existing)
            return tool_row

    async def call(
        self,
        server: MCPServer,
        tool_name: str,
        args: dict[str, Any],
        env: Mapping[str, str] | None = None,
    ) -> ToolResult:
        """Call a tool; a tool's own failure is an error result, a server's an exception.
        ``env`` (an agent's variables) fills the templates of the server's headers."""
        config = ServerConfig.of(server).filled(env or {})
        result = await self.pool.call_tool(config, tool_name, args)
        text = result_text(result)
        if result.is_error:
            return failed(text or f"MCP tool '{tool_name}' failed")
        return ok(text)

    async def probe(self, name: str, spec: Spec) -> list[Tool]:
        """The tools of a server that is not stored (Letta's ``test`` route)."""
        spec = self._allowed(spec)
        row = MCPServer(id="unsaved", organization_id="", server_name=name, metadata_={})
        spec.apply(row)
        return await self.pool.probe(ServerConfig.of(row).filled({}))

    async def run_tool(
        self,
        organization_id: str,
        server_id: str | None,
        tool_name: str,
        args: dict[str, Any],
        env: Mapping[str, str] | None = None,
    ) -> ToolResult:
        """A step's call of an MCP tool: every failure is a result for the model."""
        async with self.db.session(write=False) as session:
            repo = MCPServerRepository(session, organization_id)
            server = await repo.get(server_id) if server_id else None
        if server is None:
            if server_id:
                await self.pool.discard(server_id)
            return failed(f"Error: the MCP server of tool '{tool_name}' no longer exists.")
        try:
            return await self.call(server, tool_name, args, env)
        except MCPCallFailed as exc:
            return failed(f"Error: MCP server '{exc.server}' refused the call: {exc.message}")
        except MCPFailure as exc:
            return failed(f"Error: {exc.message}")


def replaced(spec: Spec, **changes: Any) -> Spec:
    """``spec`` with the given fields changed (``None`` values are left as they were)."""
    return replace(spec, **{k: v for k, v in changes.items() if v is not None})
