"""The tool catalogue as the API shows it, and running one of an agent's tools by hand.

The tools are the built-in ones: the same for every organization, with stable ids, listed in
a fixed catalogue order (it stands in for Letta's creation time when paging). Running one goes
through the executor turns use (``app.tools.run``) with a direct memory writer, so a block
edit takes the one block write path and lands in the block's history like one made in a turn.
"""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.agents.repository import AgentRepository
from app.blocks.memory import DirectMemory
from app.blocks.repository import BlockRepository
from app.kit.db import Database
from app.kit.errors import BadRequest, NotFound
from app.kit.pagination import PageParams, page_sorted
from app.tools.agent_state import external_context
from app.tools.builtin import BUILTIN_TOOLS, BUILTIN_TOOLS_BY_ID, BuiltinTool
from app.tools.repository import load_toolset
from app.tools.run import ToolContext, ToolResult, ToolRunners

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


class ToolOwner(Protocol):
    """What running an agent's tool needs to know of the agent."""

    @property
    def id(self) -> str: ...
    @property
    def organization_id(self) -> str: ...
    @property
    def tool_names(self) -> list[str]: ...


_POSITION = {tool.id: index for index, tool in enumerate(BUILTIN_TOOLS.values())}


def _position(tool_id: str, name: str) -> int:
    if tool_id not in _POSITION:
        raise BadRequest(f"{name}: no tool with id {tool_id!r} to page from")
    return _POSITION[tool_id]


def page(tools: Sequence[BuiltinTool], params: PageParams) -> list[BuiltinTool]:
    return page_sorted(tools, params, key=lambda t: _POSITION[t.id], cursor=_position)


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
        """The catalogue's tools that pass every filter, in catalogue order."""
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
            and (not self.only_letta or tool.tool_type.startswith("letta_"))
            and not (self.exclude_letta and tool.tool_type.startswith("letta_"))
        ]


def get(tool_id: str) -> BuiltinTool:
    tool = BUILTIN_TOOLS_BY_ID.get(tool_id)
    if tool is None:
        raise NotFound(f"Tool with id {tool_id} not found.")
    return tool


def of_agent(agent: ToolOwner) -> list[BuiltinTool]:
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
        toolset = await load_toolset(session, organization_id, agent.tool_names)
        tool = toolset.get(tool_name)
        if tool is None:
            raise NotFound(f"Tool '{tool_name}' not found or not attached to agent '{agent_id}'")
        if tool.external:
            pairs = await BlockRepository(session, organization_id).for_agents([agent_id])
            ctx = external_context(agent, [b for _, b in pairs], None)
    arguments = json.dumps(args)
    if tool.external:
        return await tools.one(ctx, tool, arguments)
    async with db.session() as session:
        memory = DirectMemory(session, organization_id, agent_id, None)
        tctx = ToolContext(session, organization_id, agent_id, None, memory)
        return await tools.session(tctx, tool, arguments)
