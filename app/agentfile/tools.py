"""The tools and MCP servers of an agent file, as the organization's.

A file's tool is one of: a Letta built-in (taken by name as ours; the few Letta built-ins this
server does not have yet are left out of the agents and reported), a Python tool (registered
from its source and schema, or the organization's tool of that name reused), or a tool of an
MCP server (registered on that server, created from the file's configuration when the
organization has no server of that name). Any other kind is refused before anything is
written.
"""

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agentfile.schemas import MCPServerSchema, ToolSchema
from app.auth.deps import Actor
from app.kit.errors import BadRequest, Conflict, Unprocessable
from app.kit.ids import Prefix, new_id
from app.mcp.config import Transport
from app.mcp.models import MCPServer
from app.mcp.repository import MCPServerRepository
from app.mcp.service import Spec
from app.mcp.tools import MCP_KEY, MCP_TOOL_TYPE
from app.tools import repository as tool_rows
from app.tools import service as tools_service
from app.tools import source_schema
from app.tools.builtin import BUILTIN_TOOLS
from app.tools.repository import ToolRepository
from app.tools.schemas import ToolCreate

# Letta built-ins not served here yet (folders): agents come without them.
NOT_YET = frozenset(
    {
        "open_files",
        "grep_files",
        "semantic_search_files",
    }
)
PYTHON_SOURCE_TYPES = (None, "python", "json")


class Kind(Enum):
    builtin = "builtin"
    skipped = "skipped"
    python = "python"
    mcp = "mcp"


@dataclass(slots=True)
class ImportedTools:
    """File tool id -> the tool's name here (None: left out), and the names left out."""

    names: dict[str, str | None] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def name_of(tool: ToolSchema, where: str) -> str:
    name = tool.name or (tool.json_schema or {}).get("name")
    if not isinstance(name, str) or not name:
        raise Unprocessable(f"{where}: the tool has no name (nor a json_schema name)")
    return name


def kind_of(tool: ToolSchema, where: str) -> Kind:
    """What the tool is here, or a 400 naming what cannot be taken."""
    name = name_of(tool, where)
    tool_type = tool.tool_type or "custom"
    if name in BUILTIN_TOOLS:
        return Kind.builtin
    if tool_type.startswith("letta_"):
        if name in NOT_YET:
            return Kind.skipped
        raise BadRequest(
            f"{where}: Letta built-in tool {name!r} ({tool_type}) is not available here; "
            f"built-in tools: {', '.join(BUILTIN_TOOLS)}"
        )
    if tool_type == MCP_TOOL_TYPE:
        if not tools_service.TOOL_NAME.fullmatch(name):
            raise BadRequest(f"{where}: MCP tool name {name!r} is not a valid tool name")
        if not isinstance(tool.json_schema, dict):
            raise Unprocessable(f"{where}: MCP tool {name!r} has no json_schema")
        return Kind.mcp
    if tool_type != "custom":
        raise BadRequest(
            f"{where}: tool {name!r} is a {tool_type} tool; this server takes Python tools, "
            "MCP tools and Letta's built-in tools"
        )
    if tool.source_type not in PYTHON_SOURCE_TYPES or not tool.source_code:
        raise BadRequest(
            f"{where}: tool {name!r} has source_type {tool.source_type!r}"
            + ("" if tool.source_code else " and no source_code")
            + "; only Python tools can be imported"
        )
    return Kind.python


@contextmanager
def naming(where: str) -> Iterator[None]:
    """Errors raised inside say which part of the file they are about."""
    try:
        yield
    except (BadRequest, Unprocessable, Conflict) as exc:
        raise type(exc)(f"{where}: {exc.message}", **exc.extra) from exc
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = ".".join(str(p) for p in error["loc"])
        raise Unprocessable(f"{where}: {loc}: {error['msg']}") from exc


async def import_servers(
    session: AsyncSession, actor: Actor, servers: Sequence[MCPServerSchema], allow_stdio: bool
) -> dict[str, MCPServer]:
    """File MCP server id -> the organization's server of that name, made from the file's
    configuration (without secrets) when there is none."""
    repo = MCPServerRepository(session, actor.organization_id)
    found: dict[str, MCPServer] = {}
    for index, server in enumerate(servers):
        where = f"mcp_servers[{index}] ({server.server_name})"
        existing = await repo.get_by_name(server.server_name)
        if existing is not None:
            found[server.id] = existing
            continue
        if server.server_type not in {t.value for t in Transport}:
            raise BadRequest(f"{where}: server_type {server.server_type!r} is not supported")
        transport = Transport(server.server_type)
        if transport is Transport.stdio and not allow_stdio:
            raise BadRequest(f"{where}: stdio MCP servers are disabled here (SLEEPTIME_MCP_STDIO)")
        stdio = server.stdio_config or {}
        spec = Spec(
            transport,
            command=stdio.get("command"),
            args=[str(a) for a in stdio.get("args") or []],
            url=server.server_url,
        )
        with naming(where):
            spec = spec.checked()
        row = MCPServer(
            id=new_id(Prefix.mcp_server),
            organization_id=actor.organization_id,
            server_name=server.server_name,
            metadata_=dict(server.metadata_ or {}),
        )
        spec.apply(row)
        repo.add(row)
        found[server.id] = row
    await session.flush()
    return found


def _server_of(
    tool: ToolSchema, servers: dict[str, MCPServer], by_name: dict[str, MCPServer], where: str
) -> MCPServer:
    mcp = (tool.metadata_ or {}).get(MCP_KEY)
    mcp = mcp if isinstance(mcp, dict) else {}
    server = servers.get(str(mcp.get("server_id"))) or by_name.get(str(mcp.get("server_name")))
    if server is None:
        raise BadRequest(
            f"{where}: the MCP server of tool {tool.name!r} ({mcp.get('server_name')!r}) is "
            "neither in the file nor registered here"
        )
    return server


async def _mcp_tool(
    session: AsyncSession, actor: Actor, tool: ToolSchema, server: MCPServer, override: bool
) -> str:
    name = name_of(tool, "")
    existing = await ToolRepository(session, actor.organization_id).get_by_name(name)
    ours = existing is not None and existing.mcp_server_id == server.id
    if existing is not None and not override:
        return existing.name
    if existing is not None and not ours:
        raise Conflict(
            f"tool {name!r} exists here and is not a tool of MCP server {server.server_name}"
        )
    schema = source_schema.check_json_schema({**(tool.json_schema or {}), "name": name})
    await tool_rows.upsert(
        session,
        actor.organization_id,
        name,
        tool_type=MCP_TOOL_TYPE,
        mcp_server_id=server.id,
        description=tool.description or schema.get("description"),
        json_schema=schema,
        tags=[f"{MCP_KEY}:{server.server_name}"],
        metadata_={MCP_KEY: {"server_name": server.server_name, "server_id": server.id}},
    )
    return name


def _create(tool: ToolSchema) -> ToolCreate:
    fields: dict[str, Any] = {
        "source_code": tool.source_code,
        "description": tool.description,
        "tags": tool.tags,
        "json_schema": tool.json_schema,
        "args_json_schema": tool.args_json_schema,
        "pip_requirements": tool.pip_requirements,
        "npm_requirements": tool.npm_requirements,
        "default_requires_approval": tool.default_requires_approval,
        "enable_parallel_execution": tool.enable_parallel_execution,
    }
    if tool.return_char_limit is not None:
        fields["return_char_limit"] = tool.return_char_limit
    return ToolCreate.model_validate(fields)


async def _python_tool(
    session: AsyncSession, actor: Actor, tool: ToolSchema, override: bool
) -> str:
    name = name_of(tool, "")
    existing = await ToolRepository(session, actor.organization_id).get_by_name(name)
    if existing is not None and not override:
        return existing.name
    data = _create(tool)
    if existing is not None:
        return (await tools_service.upsert(session, actor, data)).name
    return (await tools_service.create(session, actor, data)).name


async def import_tools(
    session: AsyncSession,
    actor: Actor,
    tools: Sequence[ToolSchema],
    servers: dict[str, MCPServer],
    *,
    override: bool,
) -> ImportedTools:
    """Register (or reuse) each tool of the file; kinds were checked (``kind_of``)."""
    result = ImportedTools()
    by_name = {s.server_name: s for s in servers.values()}
    by_name |= {
        s.server_name: s
        for s in await MCPServerRepository(session, actor.organization_id).all()
        if s.server_name not in by_name
    }
    for index, tool in enumerate(tools):
        where = f"tools[{index}] ({tool.name})"
        kind = kind_of(tool, where)
        name = name_of(tool, where)
        with naming(where):
            if kind is Kind.builtin:
                result.names[tool.id] = name
            elif kind is Kind.skipped:
                result.names[tool.id] = None
                result.skipped.append(name)
            elif kind is Kind.mcp:
                server = _server_of(tool, servers, by_name, where)
                result.names[tool.id] = await _mcp_tool(session, actor, tool, server, override)
            else:
                result.names[tool.id] = await _python_tool(session, actor, tool, override)
    return result
