"""Tools as the API shows them: the built-in ones (the same for every organization, with
stable ids) and the ones an organization registered (rows of ``tools``), listed together, and
running one of an agent's tools by hand.

Listings order built-ins before registered tools: the built-ins in catalogue order (they stand
in for Letta's oldest tools), then registered tools by creation time. Running a built-in goes
through the executor turns use (``app.tools.run``) with a direct memory writer, so a block
edit takes the one block write path and lands in the block's history like one made in a turn.

A registered tool's JSON schema comes from its source, parsed and never run
(``app.tools.source_schema``), unless the request gives one. Agents keep their tools by name;
renaming a registered tool rewrites its name in the organization's agents (their tool names and
tool rules) and deleting one detaches it from them, both in the same transaction.
"""

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from sqlalchemy import Text, cast, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.agents.repository import AgentRepository
from app.auth.deps import Actor
from app.blocks.memory import DirectMemory
from app.blocks.repository import BlockRepository
from app.kit.db import Database, utcnow
from app.kit.errors import BadRequest, Conflict, NotFound
from app.kit.ids import Prefix, is_valid, new_id
from app.kit.pagination import Order, PageParams
from app.tools import source_schema
from app.tools.agent_state import external_context
from app.tools.builtin import BUILTIN_TOOLS, BUILTIN_TOOLS_BY_ID, BuiltinTool
from app.tools.models import Tool
from app.tools.repository import RowKey, ToolQuery, ToolRepository, load_toolset
from app.tools.run import ToolContext, ToolResult, ToolRunners
from app.tools.schemas import CodeInput, ToolCreate, ToolUpdate

AnyTool = BuiltinTool | Tool

# Letta's ToolType values: filters accept any of them, even those no tool here has.
TOOL_TYPES = (
    "custom",
    "letta_core",
    "letta_memory_core",
    "letta_multi_agent_core",
    "letta_sleeptime_core",
    "letta_voice_sleeptime_core",
    "letta_builtin",
    "letta_files_core",
    "external_langchain",
    "external_composio",
    "external_mcp",
)
# What model providers accept as a function name.
TOOL_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class ToolOwner(Protocol):
    """What running an agent's tool needs to know of the agent."""

    @property
    def id(self) -> str: ...
    @property
    def organization_id(self) -> str: ...
    @property
    def tool_names(self) -> list[str]: ...


_POSITION = {tool.id: index for index, tool in enumerate(BUILTIN_TOOLS.values())}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# The listing order of every tool: built-ins (by catalogue position), then rows.
Key = tuple[int, int, datetime, str]


def _builtin_key(tool: BuiltinTool) -> Key:
    return (0, _POSITION[tool.id], _EPOCH, "")


def _row_key(key: RowKey) -> Key:
    return (1, 0, key[0], key[1])


def key_of(tool: AnyTool) -> Key:
    if isinstance(tool, BuiltinTool):
        return _builtin_key(tool)
    return _row_key((tool.created_at, tool.id))


def _split(values: Sequence[str] | None) -> list[str]:
    """Letta takes repeated parameters and comma-separated values alike."""
    return [part.strip() for value in values or () for part in value.split(",") if part.strip()]


def _types(values: Sequence[str] | None, name: str) -> set[str]:
    types = set(_split(values))
    unknown = sorted(types - set(TOOL_TYPES))
    if unknown:
        raise BadRequest(
            f"{name}: invalid tool_type {unknown[0]!r}; must be one of: {', '.join(TOOL_TYPES)}"
        )
    return types


def _is_letta(tool_type: str) -> bool:
    return tool_type.startswith("letta_")


@dataclass(frozen=True, slots=True)
class ToolFilter:
    names: Sequence[str] = ()
    tool_ids: Sequence[str] | None = None
    search: str | None = None
    tool_types: Sequence[str] | None = None
    exclude_tool_types: Sequence[str] | None = None
    only_letta: bool = False
    exclude_letta: bool = False

    def select(self) -> list[BuiltinTool]:
        """The built-in tools that pass every filter, in catalogue order."""
        ids = set(_split(self.tool_ids)) if self.tool_ids is not None else None
        wanted = _types(self.tool_types, "tool_types")
        excluded = _types(self.exclude_tool_types, "exclude_tool_types")
        needle = (self.search or "").lower()
        return [
            tool
            for tool in BUILTIN_TOOLS.values()
            if (not self.names or tool.name in self.names)
            and (ids is None or tool.id in ids)
            and needle in tool.name.lower()
            and (not wanted or tool.tool_type in wanted)
            and tool.tool_type not in excluded
            and (not self.only_letta or _is_letta(tool.tool_type))
            and not (self.exclude_letta and _is_letta(tool.tool_type))
        ]

    def query(self) -> ToolQuery | None:
        """The same filters for registered tools (never ``letta_*``); None when none can
        pass."""
        wanted = _types(self.tool_types, "tool_types")
        excluded = _types(self.exclude_tool_types, "exclude_tool_types")
        if self.only_letta or (wanted and all(_is_letta(t) for t in wanted)):
            return None
        return ToolQuery(
            names=list(self.names),
            tool_ids=_split(self.tool_ids) if self.tool_ids is not None else None,
            search=self.search,
            tool_types=sorted(wanted),
            exclude_tool_types=sorted(excluded),
        )


async def _cursor(repo: ToolRepository, tool_id: str, name: str) -> Key:
    builtin = BUILTIN_TOOLS_BY_ID.get(tool_id)
    if builtin is not None:
        return _builtin_key(builtin)
    key = await repo.key_of(tool_id)
    if key is None:
        raise BadRequest(f"{name}: no tool with id {tool_id!r} to page from")
    return _row_key(key)


async def list_tools(
    session: AsyncSession, organization_id: str, filters: ToolFilter, params: PageParams
) -> list[AnyTool]:
    """One page of the tools passing ``filters``, built-ins and registered ones together."""
    repo = ToolRepository(session, organization_id)
    descending = params.order is Order.desc
    after = await _cursor(repo, params.after, "after") if params.after else None
    before = await _cursor(repo, params.before, "before") if params.before else None
    # The open interval (low, high) of keys the page is taken from, in ascending key order.
    low, high = (before, after) if descending else (after, before)
    backwards = params.before is not None and params.after is None
    # Which end of the interval the page is nearest to: its smallest keys or its largest.
    smallest = descending == backwards
    builtins = [
        t
        for t in filters.select()
        if (low is None or _builtin_key(t) > low) and (high is None or _builtin_key(t) < high)
    ]
    rows: Sequence[Tool] = []
    query = filters.query()
    if query is not None and (high is None or high[0] == 1):
        rows = await repo.list_between(
            query,
            above=(low[2], low[3]) if low is not None and low[0] == 1 else None,
            below=(high[2], high[3]) if high is not None else None,
            descending=not smallest,
            limit=params.limit,
        )
    ascending: list[AnyTool] = [*builtins, *sorted(rows, key=key_of)]
    page = ascending[: params.limit] if smallest else ascending[-params.limit :]
    return page[::-1] if descending else page


async def count_tools(session: AsyncSession, organization_id: str, filters: ToolFilter) -> int:
    query = filters.query()
    registered = 0 if query is None else await ToolRepository(session, organization_id).count(query)
    return len(filters.select()) + registered


async def get(session: AsyncSession, organization_id: str, tool_id: str) -> AnyTool:
    builtin = BUILTIN_TOOLS_BY_ID.get(tool_id)
    if builtin is not None:
        return builtin
    tool = await ToolRepository(session, organization_id).get(tool_id)
    if tool is None:
        raise NotFound(f"Tool with id {tool_id} not found.")
    return tool


# --- writing registered tools ---------------------------------------------------------------


def _check_name(name: str) -> None:
    if name in BUILTIN_TOOLS:
        raise BadRequest(f"Tool name '{name}' is reserved for a built-in tool.")
    if not TOOL_NAME.fullmatch(name):
        raise BadRequest(
            f"Tool name '{name}' is not valid: use 1 to 64 letters, digits, '_' or '-'."
        )


def _check_source_type(source_type: str | None) -> str:
    if source_type not in (None, "python"):
        raise BadRequest(f"source_type {source_type!r} is not supported; only 'python' is.")
    return "python"


def _schema(
    source_code: str,
    json_schema: dict[str, Any] | None,
    args_json_schema: dict[str, Any] | None,
) -> dict[str, Any]:
    """The tool's JSON schema: the one given, else from ``args_json_schema``, else derived
    from the source; the source is parsed in every case, so it is valid Python."""
    if json_schema is not None:
        source_schema.function_name_and_description(source_code)
        return source_schema.check_json_schema(json_schema)
    if args_json_schema is not None:
        return source_schema.schema_from_args_json_schema(source_code, args_json_schema)
    return source_schema.derive_json_schema(source_code)


def _requirements(items: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    if items is None:
        return None
    return [item.model_dump(exclude_none=True) for item in items]


def _fields_of_create(data: ToolCreate) -> dict[str, Any]:
    json_schema = _schema(data.source_code, data.json_schema, data.args_json_schema)
    _check_name(json_schema["name"])
    return {
        "name": json_schema["name"],
        "description": data.description or json_schema.get("description"),
        "tool_type": "custom",
        "source_type": _check_source_type(data.source_type),
        "source_code": data.source_code,
        "json_schema": json_schema,
        "args_json_schema": data.args_json_schema,
        "tags": list(data.tags or []),
        "return_char_limit": data.return_char_limit,
        "pip_requirements": _requirements(data.pip_requirements),
        "npm_requirements": _requirements(data.npm_requirements),
        "default_requires_approval": bool(data.default_requires_approval),
        "enable_parallel_execution": bool(data.enable_parallel_execution),
    }


async def create(session: AsyncSession, actor: Actor, data: ToolCreate) -> Tool:
    fields = _fields_of_create(data)
    repo = ToolRepository(session, actor.organization_id)
    if await repo.get_by_name(fields["name"]) is not None:
        raise Conflict(f"Tool with name '{fields['name']}' already exists.")
    now = utcnow()
    tool = Tool(
        id=new_id(Prefix.tool),
        organization_id=actor.organization_id,
        created_at=now,
        updated_at=now,
        metadata_={},
        created_by_id=None,
        last_updated_by_id=None,
        mcp_server_id=None,
        **fields,
    )
    repo.add(tool)
    await session.flush()
    return tool


async def upsert(session: AsyncSession, actor: Actor, data: ToolCreate) -> Tool:
    """Create the tool, or update the organization's tool of the same name with the fields
    the request set (Letta's ``PUT /v1/tools/``)."""
    fields = _fields_of_create(data)
    repo = ToolRepository(session, actor.organization_id)
    tool = await repo.get_by_name(fields["name"], for_update=True)
    if tool is None:
        return await create(session, actor, data)
    if tool.tool_type != "custom":
        raise Conflict(f"Tool '{tool.name}' is a {tool.tool_type} tool; it cannot be replaced.")
    # The code and its schema are replaced; other fields only when sent. A description that
    # came from the old schema follows the new one.
    derived = tool.description == (tool.json_schema or {}).get("description")
    replaced = {"source_code", "source_type", "json_schema", "args_json_schema"}
    for key, value in fields.items():
        if key == "description":
            if data.description is not None or derived:
                tool.description = value
        elif key in replaced or key in data.model_fields_set:
            setattr(tool, key, value)
    tool.updated_at = utcnow()
    await session.flush()
    return tool


async def _registered(session: AsyncSession, actor: Actor, tool_id: str, verb: str) -> Tool:
    if tool_id in BUILTIN_TOOLS_BY_ID:
        name = BUILTIN_TOOLS_BY_ID[tool_id].name
        raise BadRequest(f"Tool '{name}' is a built-in tool; it cannot be {verb}.")
    tool = await ToolRepository(session, actor.organization_id).get(tool_id, for_update=True)
    if tool is None:
        raise NotFound(f"Tool with id {tool_id} not found.")
    return tool


async def modify(session: AsyncSession, actor: Actor, tool_id: str, data: ToolUpdate) -> Tool:
    """Update a registered tool. New source (or a new schema) may rename it; the new name
    must be free, and the organization's agents follow the rename."""
    tool = await _registered(session, actor, tool_id, "modified")
    if data.source_type is not None:
        tool.source_type = _check_source_type(data.source_type)
    if any(
        getattr(data, f) is not None for f in ("source_code", "json_schema", "args_json_schema")
    ):
        await _change_schema(session, actor, tool, data)
    _apply_plain_fields(tool, data)
    tool.updated_at = utcnow()
    await session.flush()
    return tool


async def _change_schema(session: AsyncSession, actor: Actor, tool: Tool, data: ToolUpdate) -> None:
    if tool.tool_type == "external_mcp":
        raise BadRequest(f"Tool '{tool.name}' belongs to an MCP server; its schema is its own.")
    source_code = data.source_code if data.source_code is not None else tool.source_code
    if source_code is None:
        raise BadRequest("source_code: the tool has no source code to derive a schema from")
    args_schema = data.args_json_schema
    if args_schema is None and data.json_schema is None and data.source_code is None:
        args_schema = tool.args_json_schema
    json_schema = _schema(source_code, data.json_schema, args_schema)
    new_name = json_schema["name"]
    if new_name != tool.name:
        _check_name(new_name)
        if await ToolRepository(session, actor.organization_id).get_by_name(new_name) is not None:
            raise Conflict(f"Tool with name '{new_name}' already exists.")
        await rename_in_agents(session, actor.organization_id, tool.name, new_name)
        tool.name = new_name
    # A description that came from the old schema follows the new one; one set apart stays.
    derived = tool.description == (tool.json_schema or {}).get("description")
    tool.json_schema = json_schema
    tool.source_code = source_code
    if data.args_json_schema is not None:
        tool.args_json_schema = data.args_json_schema
    if derived and json_schema.get("description"):
        tool.description = json_schema["description"]


def _apply_plain_fields(tool: Tool, data: ToolUpdate) -> None:
    given = data.model_fields_set
    for key in ("description", "return_char_limit", "default_requires_approval"):
        if getattr(data, key) is not None:
            setattr(tool, key, getattr(data, key))
    if data.enable_parallel_execution is not None:
        tool.enable_parallel_execution = data.enable_parallel_execution
    if data.tags is not None:
        tool.tags = list(data.tags)
    if "pip_requirements" in given:
        tool.pip_requirements = _requirements(data.pip_requirements)
    if "npm_requirements" in given:
        tool.npm_requirements = _requirements(data.npm_requirements)
    if data.metadata_ is not None:
        tool.metadata_ = dict(data.metadata_)


async def delete(session: AsyncSession, actor: Actor, tool_id: str) -> None:
    """Delete a registered tool and detach it from every agent of its organization."""
    tool = await _registered(session, actor, tool_id, "deleted")
    await detach_from_agents(session, actor.organization_id, [tool.name])
    await ToolRepository(session, actor.organization_id).delete(tool.id)
    await session.flush()


def generate_schema(data: CodeInput) -> dict[str, Any]:
    """Letta's ``POST /v1/tools/generate-schema``."""
    _check_source_type(data.source_type)
    return source_schema.derive_json_schema(data.code, data.tool_name)


# --- agents and their tools -------------------------------------------------------------------


def rule_without(rule: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A tool rule once tool ``name`` is gone: None when the rule was about it."""
    if rule.get("tool_name") == name:
        return None
    rule = dict(rule)
    if isinstance(rule.get("children"), list):
        rule["children"] = [c for c in rule["children"] if c != name]
        if not rule["children"]:
            return None
    if rule.get("default_child") == name:
        rule["default_child"] = None
    mapping = rule.get("child_output_mapping")
    if isinstance(mapping, dict):
        rule["child_output_mapping"] = {k: v for k, v in mapping.items() if v != name}
    return rule


def rule_renamed(rule: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    def swap(value: Any) -> Any:
        return new if value == old else value

    rule = {**rule, "tool_name": swap(rule.get("tool_name"))}
    if isinstance(rule.get("children"), list):
        rule["children"] = [swap(c) for c in rule["children"]]
    if "default_child" in rule:
        rule["default_child"] = swap(rule["default_child"])
    mapping = rule.get("child_output_mapping")
    if isinstance(mapping, dict):
        rule["child_output_mapping"] = {k: swap(v) for k, v in mapping.items()}
    return rule


def _mentions(rule: dict[str, Any], name: str) -> bool:
    return json.dumps(name) in json.dumps(rule)


async def _agents_naming(
    session: AsyncSession, organization_id: str, names: Sequence[str]
) -> list[Agent]:
    """The organization's agents whose tools or tool rules may name one of ``names``
    (locked for update), found by the name's JSON text."""
    needles = [
        cast(column, Text).contains(f'"{name}"', autoescape=True)
        for name in names
        for column in (Agent.tool_names, Agent.tool_rules)
    ]
    stmt = (
        select(Agent)
        .where(Agent.organization_id == organization_id, or_(*needles))
        .order_by(Agent.id)
        .with_for_update()
    )
    return list((await session.scalars(stmt)).all())


async def rename_in_agents(session: AsyncSession, organization_id: str, old: str, new: str) -> None:
    for agent in await _agents_naming(session, organization_id, [old]):
        if old in agent.tool_names:
            agent.tool_names = list(dict.fromkeys(new if n == old else n for n in agent.tool_names))
        if any(_mentions(r, old) for r in agent.tool_rules):
            agent.tool_rules = [rule_renamed(r, old, new) for r in agent.tool_rules]


async def detach_from_agents(
    session: AsyncSession, organization_id: str, names: Sequence[str]
) -> None:
    gone = set(names)
    if not gone:
        return
    for agent in await _agents_naming(session, organization_id, names):
        if gone & set(agent.tool_names):
            agent.tool_names = [n for n in agent.tool_names if n not in gone]
        rules = list(agent.tool_rules)
        for name in gone:
            rules = [r for r in (rule_without(rule, name) for rule in rules) if r is not None]
        if rules != agent.tool_rules:
            agent.tool_rules = rules


async def resolve(
    session: AsyncSession,
    organization_id: str,
    names: Sequence[str] | None,
    ids: Sequence[str] | None,
) -> list[AnyTool]:
    """The tools ``names`` and ``ids`` stand for, names first, each once; an unknown name
    is a 400 and an unknown id a 404, naming every one of them."""
    names, ids = list(names or ()), list(ids or ())
    repo = ToolRepository(session, organization_id)
    wanted_names = [n for n in names if n not in BUILTIN_TOOLS]
    by_name = {t.name: t for t in await repo.by_names(wanted_names)}
    unknown = [n for n in dict.fromkeys(wanted_names) if n not in by_name]
    if unknown:
        raise BadRequest(
            f"tools: unknown tool(s) {', '.join(unknown)}; register them with POST /v1/tools/ "
            "or use a built-in tool: " + ", ".join(BUILTIN_TOOLS)
        )
    wanted_ids = [i for i in ids if i not in BUILTIN_TOOLS_BY_ID]
    by_id = {
        t.id: t for t in await repo.by_ids([i for i in wanted_ids if is_valid(Prefix.tool, i)])
    }
    unknown_ids = [i for i in dict.fromkeys(wanted_ids) if i not in by_id]
    if unknown_ids:
        raise NotFound(f"tool_ids: tool(s) not found: {', '.join(unknown_ids)}")
    found: dict[str, AnyTool] = {}
    for name in names:
        found.setdefault(name, BUILTIN_TOOLS.get(name) or by_name[name])
    for tool_id in ids:
        tool: AnyTool = BUILTIN_TOOLS_BY_ID.get(tool_id) or by_id[tool_id]
        found.setdefault(tool.name, tool)
    return list(found.values())


async def of_agents(
    session: AsyncSession, organization_id: str, tool_names: Iterable[str]
) -> dict[str, AnyTool]:
    """The tools with these names, built-in or registered (absent when neither)."""
    names = list(dict.fromkeys(tool_names))
    registered = [n for n in names if n not in BUILTIN_TOOLS]
    rows = {t.name: t for t in await ToolRepository(session, organization_id).by_names(registered)}
    found: dict[str, AnyTool] = {}
    for name in names:
        tool = BUILTIN_TOOLS.get(name) or rows.get(name)
        if tool is not None:
            found[name] = tool
    return found


async def list_for_agent(
    session: AsyncSession, agent: ToolOwner, params: PageParams
) -> list[AnyTool]:
    """One page of the agent's tools, in the order of every tool listing."""
    tools = (await of_agents(session, agent.organization_id, agent.tool_names)).values()
    descending = params.order is Order.desc
    ordered = sorted(tools, key=key_of, reverse=descending)
    keys = {t.id: key_of(t) for t in tools}
    repo = ToolRepository(session, agent.organization_id)

    async def cursor(tool_id: str, name: str) -> Key:
        return keys[tool_id] if tool_id in keys else await _cursor(repo, tool_id, name)

    if params.after is not None:
        low = await cursor(params.after, "after")
        ordered = [t for t in ordered if (key_of(t) < low if descending else key_of(t) > low)]
    if params.before is not None:
        high = await cursor(params.before, "before")
        ordered = [t for t in ordered if (key_of(t) > high if descending else key_of(t) < high)]
    if params.before is not None and params.after is None:
        return ordered[-params.limit :]
    return ordered[: params.limit]


def of_agent(agent: ToolOwner) -> list[BuiltinTool]:
    """The agent's built-in tools."""
    return [BUILTIN_TOOLS[name] for name in agent.tool_names if name in BUILTIN_TOOLS]


async def run_for_agent(
    db: Database,
    tools: ToolRunners,
    organization_id: str,
    agent_id: str,
    tool_name: str,
    args: dict[str, Any],
) -> ToolResult:
    """Run one of the agent's tools once, outside any turn: an external tool with no
    transaction open, a session tool in a write transaction of its own (a block edit takes
    the one block write path and lands in the block's history like one made in a turn)."""
    async with db.session(write=False) as session:
        agent = await AgentRepository(session, organization_id).get(agent_id)
        if agent is None:
            raise NotFound(f"Agent {agent_id} not found")
        tool = (await load_toolset(session, organization_id, agent.tool_names)).get(tool_name)
        if tool is None:
            raise NotFound(f"Tool '{tool_name}' not found or not attached to agent '{agent_id}'")
        if tool.external:
            pairs = await BlockRepository(session, organization_id).for_agents([agent_id])
            ctx = external_context(agent, [b for _, b in pairs], None)
    arguments = json.dumps(args)
    if tool.external:
        result = await tools.one(ctx, tool, arguments)
        if result.write is not None:
            async with db.session() as session:
                await result.write(session)
        return result
    async with db.session() as session:
        memory = DirectMemory(session, organization_id, agent_id, None)
        tctx = ToolContext(session, organization_id, agent_id, None, memory)
        return await tools.session(tctx, tool, arguments)
