"""Export: an agent, its sleeptime agents and group, blocks, tools, MCP servers and main
thread, as one agent file with file-local ids.

Ids are handed out in a fixed order (the agent, then its group's members; each agent's
blocks by label; tools by name; messages oldest first), so exporting equal agents gives
equal files whatever their database ids: what makes export, import, export exact.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app import __version__
from app.agentfile.archives import export_archives
from app.agentfile.messages import to_file
from app.agentfile.schemas import (
    AgentFileSchema,
    AgentSchema,
    BlockSchema,
    GroupSchema,
    ManagerConfig,
    MCPServerSchema,
    ToolSchema,
)
from app.agents import views
from app.agents.models import Agent
from app.agents.repository import AgentRepository
from app.agents.schemas import AgentState
from app.auth.deps import Actor
from app.blocks.schemas import BlockResponse
from app.conversations.repository import ConversationRepository
from app.groups.repository import GroupRepository
from app.groups.schemas import GroupResponse
from app.kit import migrate
from app.kit.db import utcnow
from app.kit.errors import NotFound
from app.mcp.models import MCPServer
from app.mcp.repository import MCPServerRepository
from app.messages.models import Message
from app.messages.repository import MessageRepository
from app.providers.registry import ProviderRegistry
from app.tools.schemas import ToolResponse

# Written in every file made here; import tells our files from Letta's by it.
SERVER_MARK = "sleeptime-server"
MCP_KEY = "mcp"


class FileIds:
    """Database id -> file id (``<kind>-<n>``), numbered per kind in the order asked."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        self._counts: dict[str, int] = defaultdict(int)

    def of(self, kind: str, db_id: str) -> str:
        found = self._ids.get(db_id)
        if found is None:
            found = self._ids[db_id] = f"{kind}-{self._counts[kind]}"
            self._counts[kind] += 1
        return found

    def of_kind(self, kind: str) -> dict[str, str]:
        """Database id -> file id of every id of ``kind`` numbered so far."""
        return {db: file for db, file in self._ids.items() if file.startswith(f"{kind}-")}


async def _agents(session: AsyncSession, actor: Actor, agent_id: str) -> list[Agent]:
    """The agent, then the members of the sleeptime group it manages."""
    agents = AgentRepository(session, actor.organization_id)
    primary = await agents.get(agent_id)
    if primary is None:
        raise NotFound(f"Agent {agent_id} not found")
    groups = GroupRepository(session, actor.organization_id)
    managed = await groups.managed_by([agent_id])
    member_ids = (await groups.member_ids([g.id for g in managed])).get(
        managed[0].id if managed else "", []
    )
    found = {a.id: a for a in await agents.get_many(member_ids)}
    return [primary, *(found[i] for i in member_ids if i in found)]


def _tool(tool: ToolResponse, ids: FileIds) -> ToolSchema:
    metadata = dict(tool.metadata_ or {})
    mcp = metadata.get(MCP_KEY)
    if isinstance(mcp, dict) and mcp.get("server_id"):
        metadata[MCP_KEY] = {**mcp, "server_id": ids.of("mcp_server", str(mcp["server_id"]))}
    return ToolSchema(
        id=ids.of("tool", tool.id),
        tool_type=tool.tool_type,
        description=tool.description,
        source_type=tool.source_type,
        name=tool.name,
        tags=list(tool.tags) or ([tool.tool_type] if tool.tool_type.startswith("letta_") else []),
        source_code=tool.source_code,
        json_schema=tool.json_schema,
        args_json_schema=tool.args_json_schema,
        return_char_limit=tool.return_char_limit,
        pip_requirements=tool.pip_requirements,
        npm_requirements=tool.npm_requirements,
        default_requires_approval=tool.default_requires_approval,
        enable_parallel_execution=tool.enable_parallel_execution,
        metadata_=metadata,
    )


def _block(block: BlockResponse, ids: FileIds) -> BlockSchema:
    return BlockSchema(
        id=ids.of("block", block.id),
        value=block.value,
        limit=block.limit,
        label=block.label,
        read_only=block.read_only,
        description=block.description,
        metadata=dict(block.metadata or {}),
        tags=list(block.tags or []),
    )


def _mcp_server(row: MCPServer, ids: FileIds) -> MCPServerSchema:
    stdio = {k: v for k, v in (row.stdio_config or {}).items() if k != "env"}
    return MCPServerSchema(
        id=ids.of("mcp_server", row.id),
        server_type=row.server_type,
        server_name=row.server_name,
        server_url=row.server_url,
        stdio_config=stdio or None,
        metadata_={k: v for k, v in (row.metadata_ or {}).items() if k != "auth_header"},
    )


def _group(group: GroupResponse, ids: FileIds) -> GroupSchema:
    config: dict[str, Any] = {
        "manager_type": group.manager_type,
        "manager_agent_id": ids.of("agent", group.manager_agent_id or ""),
        "sleeptime_agent_frequency": group.sleeptime_agent_frequency,
    }
    if group.sleeptime_debounce_seconds is not None:
        config["sleeptime_debounce_seconds"] = group.sleeptime_debounce_seconds
    return GroupSchema(
        id=ids.of("group", group.id),
        agent_ids=[ids.of("agent", a) for a in group.agent_ids],
        description=group.description,
        manager_config=ManagerConfig.model_validate(config),
    )


def _agent(
    state: AgentState,
    row: Agent,
    messages: Sequence[Message],
    ids: FileIds,
) -> AgentSchema:
    file_id = ids.of("agent", state.id)
    group = state.managed_group
    kept = {m.id for m in messages}
    secrets = {v.key: "" for v in state.secrets}
    groups = ids.of_kind("group")
    return AgentSchema(
        id=file_id,
        name=state.name,
        tool_ids=[ids.of("tool", t.id) for t in state.tools],
        block_ids=[ids.of("block", b.id) for b in sorted(state.blocks, key=lambda b: b.label)],
        tool_rules=list(state.tool_rules),
        tags=list(state.tags),
        system=state.system,
        agent_type=state.agent_type,
        llm_config=state.llm_config.model_dump(mode="json"),
        description=state.description,
        metadata=state.metadata,
        model=state.model,
        embedding=state.embedding,
        context_window_limit=row.context_window_limit,
        max_tokens=row.max_tokens,
        tool_exec_environment_variables=secrets,
        secrets=dict(secrets),
        message_buffer_autoclear=state.message_buffer_autoclear,
        enable_sleeptime=state.enable_sleeptime,
        response_format=state.response_format,
        timezone=state.timezone,
        hidden=state.hidden,
        parallel_tool_calls=(state.model_settings or {}).get("parallel_tool_calls"),
        model_settings=state.model_settings,
        compaction_settings=row.compaction_settings,
        in_context_message_ids=[ids.of("message", m) for m in state.message_ids if m in kept],
        messages=[to_file(m, ids.of("message", m.id), file_id, groups) for m in messages],
        group_ids=[ids.of("group", group.id)] if group is not None else [],
    )


async def export_agent(
    session: AsyncSession,
    actor: Actor,
    agent_id: str,
    registry: ProviderRegistry,
    *,
    scrub_messages: bool = False,
    skills: Sequence[dict[str, Any]] = (),
    conversation_id: str | None = None,
    include_archives: bool = False,
) -> dict[str, Any]:
    """The agent file of ``agent_id`` as JSON-ready data; with ``conversation_id``, the
    agent's messages are that conversation's (as Letta exports one); with
    ``include_archives``, the archives the agents read, with their passages."""
    agents = await _agents(session, actor, agent_id)
    states = await views.agent_states(session, actor, agents, registry)
    ids = FileIds()
    for state in states:
        ids.of("agent", state.id)
        if state.managed_group is not None:
            ids.of("group", state.managed_group.id)
    repo = MessageRepository(session, actor.organization_id)
    threads = {a.id: [] if scrub_messages else await repo.thread(a.id) for a in agents}
    if conversation_id is not None:
        await _conversation(session, actor, states[0], conversation_id, threads, scrub_messages)
    blocks = {b.id: b for s in states for b in sorted(s.blocks, key=lambda b: b.label)}
    for block_id in blocks:
        ids.of("block", block_id)
    tools = {t.id: t for t in sorted((t for s in states for t in s.tools), key=lambda t: t.name)}
    for tool_id in tools:
        ids.of("tool", tool_id)
    servers = await _servers(session, actor, tools.values())
    for server in servers:
        ids.of("mcp_server", server.id)
    file = AgentFileSchema(
        agents=[_agent(s, a, threads[a.id], ids) for s, a in zip(states, agents, strict=True)],
        groups=[_group(s.managed_group, ids) for s in states if s.managed_group is not None],
        blocks=[_block(b, ids) for b in blocks.values()],
        tools=[_tool(t, ids) for t in tools.values()],
        mcp_servers=[_mcp_server(s, ids) for s in servers],
        skills=list(skills),
        archives=(
            await export_archives(session, actor, agents, ids.of_kind("agent"))
            if include_archives
            else None
        ),
        metadata={"revision_id": migrate.head_revision(), "server": f"{SERVER_MARK} {__version__}"},
        created_at=utcnow(),
    )
    return file.model_dump(mode="json", exclude={"archives"} if file.archives is None else None)


async def _conversation(
    session: AsyncSession,
    actor: Actor,
    state: AgentState,
    conversation_id: str,
    threads: dict[str, list[Message]],
    scrub_messages: bool,
) -> None:
    """Put the conversation's thread and window in place of the agent's main ones."""
    conversation = await ConversationRepository(session, actor.organization_id).get(conversation_id)
    if conversation is None or conversation.agent_id != state.id:
        raise NotFound(f"Conversation {conversation_id} not found for agent {state.id}")
    repo = MessageRepository(session, actor.organization_id)
    threads[state.id] = [] if scrub_messages else await repo.thread(state.id, conversation.id)
    window = await ConversationRepository(session, actor.organization_id).in_context_ids(
        conversation
    )
    summary = [conversation.summary_message_id] if conversation.summary_message_id else []
    state.message_ids = window[:1] + summary + window[1:]


async def _servers(
    session: AsyncSession, actor: Actor, tools: Iterable[ToolResponse]
) -> Sequence[MCPServer]:
    server_ids = []
    for tool in tools:
        mcp = (tool.metadata_ or {}).get(MCP_KEY)
        if isinstance(mcp, dict) and isinstance(mcp.get("server_id"), str):
            server_ids.append(mcp["server_id"])
    repo = MCPServerRepository(session, actor.organization_id)
    return await repo.get_many(list(dict.fromkeys(server_ids)))
