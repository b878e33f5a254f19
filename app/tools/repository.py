"""The ``tools`` table: tools an organization registered (Python source, or a tool of one of
its MCP servers), and the toolset a step is prepared with.

The built-in tools are not rows. ``load_toolset`` answers for them without touching the
database, so a turn whose agent uses only built-ins issues no tool query at all.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.db import utcnow
from app.kit.errors import BadRequest
from app.kit.ids import Prefix, new_id
from app.kit.repository import Repository
from app.mcp.models import MCPServer
from app.tools.builtin import BUILTIN_TOOLS, SERVER_BUILTINS
from app.tools.models import Tool
from app.tools.toolset import DEFAULT_RETURN_CHAR_LIMIT, ToolDef, ToolKind, builtin_def

MCP_TOOL_TYPE = "external_mcp"
RowKey = tuple[datetime, str]

# Read when a step is prepared for an agent with registered tools: built once.
_BY_NAMES = (
    select(Tool, MCPServer.server_name)
    .outerjoin(MCPServer, MCPServer.id == Tool.mcp_server_id)
    .where(
        Tool.organization_id == bindparam("b_org"),
        Tool.name.in_(bindparam("b_names", expanding=True)),
    )
)


def kind_of(tool: Tool) -> ToolKind:
    """How a registered tool runs: on its MCP server, or as Python in the sandbox."""
    return ToolKind.mcp if tool.tool_type == MCP_TOOL_TYPE else ToolKind.python


def mcp_server_name_of(tool: Tool, joined: str | None = None) -> str | None:
    if joined is not None:
        return joined
    mcp = (tool.metadata_ or {}).get("mcp")
    name = mcp.get("server_name") if isinstance(mcp, Mapping) else None
    return name if isinstance(name, str) else None


def tool_def(tool: Tool, mcp_server_name: str | None = None) -> ToolDef:
    """The definition a step runs a registered tool with."""
    return ToolDef(
        id=tool.id,
        name=tool.name,
        kind=kind_of(tool),
        tool_type=tool.tool_type,
        json_schema=dict(tool.json_schema),
        source_code=tool.source_code,
        pip_requirements=tuple(tool.pip_requirements or ()),
        return_char_limit=tool.return_char_limit,
        default_requires_approval=bool(tool.default_requires_approval),
        mcp_server_id=tool.mcp_server_id,
        mcp_server_name=mcp_server_name_of(tool, mcp_server_name),
        metadata=dict(tool.metadata_ or {}),
    )


@cache
def builtin_tool_def(name: str) -> ToolDef | None:
    """A built-in's definition, made once: the built-ins are fixed for the process."""
    tool = BUILTIN_TOOLS.get(name)
    if tool is None:
        return None
    return builtin_def(tool, ToolKind.server if name in SERVER_BUILTINS else ToolKind.session)


async def load_toolset(
    session: AsyncSession, organization_id: str, tool_names: Sequence[str]
) -> dict[str, ToolDef]:
    """The definition of each named tool, in the order given; names that are neither a
    built-in nor registered in the organization are absent. Built-ins need no query."""
    found: dict[str, ToolDef] = {}
    registered: list[str] = []
    for name in tool_names:
        builtin = builtin_tool_def(name)
        if builtin is not None:
            found[name] = builtin
        elif name not in registered:
            registered.append(name)
    if registered:
        params = {"b_org": organization_id, "b_names": registered}
        for tool, server_name in await session.execute(_BY_NAMES, params):
            found[tool.name] = tool_def(tool, server_name)
    return {name: found[name] for name in dict.fromkeys(tool_names) if name in found}


@dataclass(frozen=True, slots=True)
class ToolQuery:
    """Filters of a tool listing (registered tools only; the built-ins are filtered apart)."""

    names: Sequence[str] = ()
    tool_ids: Sequence[str] | None = None
    search: str | None = None
    tool_types: Sequence[str] = ()
    exclude_tool_types: Sequence[str] = ()


class ToolRepository(Repository):
    """Every query of registered tools, scoped to one organization."""

    def _scoped(self) -> Select[Tool]:
        return select(Tool).where(Tool.organization_id == self.organization_id)

    async def get(self, tool_id: str, *, for_update: bool = False) -> Tool | None:
        stmt = self._scoped().where(Tool.id == tool_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def get_by_name(self, name: str, *, for_update: bool = False) -> Tool | None:
        stmt = self._scoped().where(Tool.name == name)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def by_names(self, names: Iterable[str]) -> list[Tool]:
        wanted = list(dict.fromkeys(names))
        if not wanted:
            return []
        return list((await self.session.scalars(self._scoped().where(Tool.name.in_(wanted)))).all())

    async def by_ids(self, tool_ids: Iterable[str]) -> list[Tool]:
        wanted = list(dict.fromkeys(tool_ids))
        if not wanted:
            return []
        return list((await self.session.scalars(self._scoped().where(Tool.id.in_(wanted)))).all())

    def _filtered(self, query: ToolQuery) -> Select[Tool]:
        stmt = self._scoped()
        if query.names:
            stmt = stmt.where(Tool.name.in_(list(query.names)))
        if query.tool_ids is not None:
            stmt = stmt.where(Tool.id.in_(list(query.tool_ids)))
        if query.search:
            stmt = stmt.where(func.lower(Tool.name).contains(query.search.lower(), autoescape=True))
        if query.tool_types:
            stmt = stmt.where(Tool.tool_type.in_(list(query.tool_types)))
        if query.exclude_tool_types:
            stmt = stmt.where(Tool.tool_type.not_in(list(query.exclude_tool_types)))
        return stmt

    async def key_of(self, tool_id: str) -> RowKey | None:
        """The listing key (creation time, id) of one of the organization's tools."""
        stmt = select(Tool.created_at, Tool.id).where(
            Tool.organization_id == self.organization_id, Tool.id == tool_id
        )
        row = (await self.session.execute(stmt)).first()
        return None if row is None else (row[0], row[1])

    async def list_between(
        self,
        query: ToolQuery,
        *,
        above: RowKey | None,
        below: RowKey | None,
        descending: bool,
        limit: int,
    ) -> Sequence[Tool]:
        """Up to ``limit`` tools strictly between two listing keys, nearest to ``above``
        first (or nearest to ``below`` first when ``descending``)."""
        stmt = self._filtered(query)
        if above is not None:
            stmt = stmt.where(tuple_(Tool.created_at, Tool.id) > tuple_(*above))
        if below is not None:
            stmt = stmt.where(tuple_(Tool.created_at, Tool.id) < tuple_(*below))
        columns = (Tool.created_at, Tool.id)
        stmt = stmt.order_by(*(c.desc() if descending else c.asc() for c in columns))
        return (await self.session.scalars(stmt.limit(limit))).all()

    async def count(self, query: ToolQuery) -> int:
        stmt = self._filtered(query).with_only_columns(func.count()).order_by(None)
        return int(await self.session.scalar(stmt) or 0)

    async def for_mcp_server(self, mcp_server_id: str) -> Sequence[Tool]:
        stmt = self._scoped().where(Tool.mcp_server_id == mcp_server_id)
        return (await self.session.scalars(stmt.order_by(Tool.created_at, Tool.id))).all()

    def add(self, tool: Tool) -> None:
        self.session.add(tool)

    async def delete(self, tool_id: str) -> int:
        stmt = delete(Tool).where(Tool.organization_id == self.organization_id, Tool.id == tool_id)
        return await self.rowcount(stmt, {})

    async def delete_names(self, names: Sequence[str]) -> int:
        if not names:
            return 0
        stmt = delete(Tool).where(
            Tool.organization_id == self.organization_id, Tool.name.in_(list(names))
        )
        return await self.rowcount(stmt, {})


# Fields a caller may set on a registered tool, with the value an omitted one takes on insert.
TOOL_FIELDS: dict[str, Any] = {
    "description": None,
    "tool_type": "custom",
    "source_type": None,
    "source_code": None,
    "json_schema": None,
    "args_json_schema": None,
    "tags": [],
    "return_char_limit": DEFAULT_RETURN_CHAR_LIMIT,
    "pip_requirements": None,
    "npm_requirements": None,
    "default_requires_approval": False,
    "enable_parallel_execution": False,
    "mcp_server_id": None,
    "metadata_": {},
}


def _check_fields(fields: Mapping[str, Any]) -> None:
    unknown = sorted(set(fields) - set(TOOL_FIELDS))
    if unknown:
        raise TypeError(f"not a tool field: {', '.join(unknown)}")


async def upsert(
    session: AsyncSession,
    organization_id: str,
    name: str,
    *,
    actor_id: str | None = None,
    **fields: Any,
) -> tuple[Tool, bool]:
    """Create the organization's tool ``name``, or update the one it has, with ``fields``
    (keys of ``TOOL_FIELDS``; ``json_schema`` is required for a new tool). Returns the row
    and whether it was created. Flushes; the caller commits.

    It does not validate source or derive schemas (``app.tools.service`` does that for the
    API): callers pass finished values. A built-in's name is refused.
    """
    _check_fields(fields)
    if name in BUILTIN_TOOLS:
        raise BadRequest(f"Tool name '{name}' is reserved for a built-in tool.")
    repo = ToolRepository(session, organization_id)
    tool = await repo.get_by_name(name, for_update=True)
    if tool is None:
        values = {**TOOL_FIELDS, **fields}
        if not isinstance(values["json_schema"], dict):
            raise BadRequest(f"Tool '{name}' needs a json_schema.")
        tool = Tool(
            id=new_id(Prefix.tool),
            organization_id=organization_id,
            name=name,
            created_by_id=actor_id,
            last_updated_by_id=actor_id,
            **{key: _copy(value) for key, value in values.items()},
        )
        repo.add(tool)
        await session.flush()
        return tool, True
    for key, value in fields.items():
        setattr(tool, key, _copy(value))
    tool.last_updated_by_id = actor_id
    tool.updated_at = utcnow()
    await session.flush()
    return tool, False


def _copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value
