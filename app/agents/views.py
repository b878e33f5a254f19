"""Assemble AgentState responses with a fixed number of queries, whatever the page size."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import settings as model_settings
from app.agents.models import Agent
from app.agents.repository import AgentRepository
from app.agents.schemas import AgentEnvironmentVariable, AgentState, Memory
from app.auth.deps import Actor
from app.blocks.repository import BlockRepository
from app.blocks.schemas import BlockResponse
from app.groups import service as groups_service
from app.groups.repository import GroupRepository
from app.groups.schemas import GroupResponse
from app.messages.convert import to_letta
from app.messages.repository import MessageRepository
from app.providers.registry import ModelInfo, ProviderRegistry
from app.providers.schemas import LLMConfig
from app.tools import service as tools_service
from app.tools.schemas import ToolResponse

ALL = None


async def agent_states(
    session: AsyncSession,
    actor: Actor,
    agents: Sequence[Agent],
    registry: ProviderRegistry,
    include: frozenset[str] | None = ALL,
) -> list[AgentState]:
    """AgentStates for ``agents``; ``include`` None loads every relationship."""

    def wanted(relation: str) -> bool:
        return include is None or relation in include

    ids = [a.id for a in agents]
    blocks: dict[str, list[BlockResponse]] = defaultdict(list)
    if wanted("agent.blocks"):
        for agent_id, block in await BlockRepository(session, actor.organization_id).for_agents(
            ids
        ):
            blocks[agent_id].append(BlockResponse.model_validate(block))
    tags = (
        await AgentRepository(session, actor.organization_id).tags_of(ids)
        if wanted("agent.tags")
        else {}
    )
    groups: dict[str, GroupResponse] = {}
    if wanted("agent.managed_group"):
        repo = GroupRepository(session, actor.organization_id)
        for view in await groups_service.views(repo, await repo.managed_by(ids)):
            if view.group.manager_agent_id is not None:
                groups[view.group.manager_agent_id] = view.response()
    tools: dict[str, ToolResponse] = {}
    if wanted("agent.tools"):
        names = [n for a in agents for n in a.tool_names]
        found = await tools_service.of_agents(session, actor.organization_id, names)
        tools = {name: ToolResponse.of(tool) for name, tool in found.items()}
    pending = (
        await _pending_approvals(session, actor, agents) if wanted("agent.pending_approval") else {}
    )
    with_secrets = wanted("agent.secrets")
    in_context = await MessageRepository(session, actor.organization_id).in_context_ids(ids)
    return [
        _state(
            agent,
            registry,
            _Related(
                blocks[agent.id],
                tags.get(agent.id, []),
                groups.get(agent.id),
                in_context.get(agent.id, []),
                [tools[n] for n in agent.tool_names if n in tools],
                environment(agent) if with_secrets else [],
                pending.get(agent.id),
            ),
        )
        for agent in agents
    ]


@dataclass(frozen=True, slots=True)
class _Related:
    """What an AgentState shows from other tables."""

    blocks: list[BlockResponse]
    tags: list[str]
    group: GroupResponse | None
    message_ids: list[str]
    tools: list[ToolResponse]
    secrets: list[AgentEnvironmentVariable]
    pending_approval: dict[str, Any] | None


async def _pending_approvals(
    session: AsyncSession, actor: Actor, agents: Sequence[Agent]
) -> dict[str, dict[str, Any]]:
    """The approval request each paused agent waits on, as its message list shows it: one
    query, and none when no agent waits."""
    waiting = {a.pending_approval["message_id"]: a for a in agents if a.pending_approval}
    found: dict[str, dict[str, Any]] = {}
    for message in await MessageRepository(session, actor.organization_id).by_ids(list(waiting)):
        agent = waiting[message.id]
        for item in to_letta(message, agent.agent_type):
            if item["message_type"] == "approval_request_message":
                found[agent.id] = item
    return found


def environment(agent: Agent) -> list[AgentEnvironmentVariable]:
    """The agent's tool environment as Letta lists it (ids stable per agent and key). Values
    are stored as ``{key: value}``; ``{key: {"value", "description"}}`` is read too."""
    return [
        AgentEnvironmentVariable(
            id=f"agent-env-{uuid.uuid5(uuid.NAMESPACE_URL, f'{agent.id}/{key}')}",
            agent_id=agent.id,
            key=key,
            value=str(item.get("value", "") if isinstance(item, dict) else item),
            description=item.get("description") if isinstance(item, dict) else None,
            created_at=agent.created_at,
            updated_at=agent.updated_at,
        )
        for key, item in (agent.secrets or {}).items()
    ]


def _model(agent: Agent, info: ModelInfo) -> tuple[LLMConfig, dict[str, Any]]:
    """The agent's model config and settings; an agent stored without complete settings
    shows its model's defaults under what it has."""
    settings = model_settings.filled(
        info.provider, info.model, agent.model_settings, max_tokens=agent.max_tokens
    )
    llm = LLMConfig.of(info, max_tokens=agent.max_tokens).model_copy(
        update={
            "temperature": settings.get("temperature"),
            "parallel_tool_calls": settings.get("parallel_tool_calls"),
        }
    )
    return llm, settings


def _state(agent: Agent, registry: ProviderRegistry, related: _Related) -> AgentState:
    info = registry.resolve_stored(agent.model, context_window=agent.context_window_limit)
    llm_config, settings = _model(agent, info)
    blocks, group = related.blocks, related.group
    return AgentState(
        id=agent.id,
        name=agent.name,
        agent_type=agent.agent_type,
        system=agent.system,
        description=agent.description,
        metadata=agent.metadata_,
        model=agent.model,
        embedding=agent.embedding,
        llm_config=llm_config,
        model_settings=settings,
        context_window_limit=agent.context_window_limit,
        memory=Memory(agent_type=agent.agent_type, blocks=blocks),
        blocks=blocks,
        tools=related.tools,
        secrets=related.secrets,
        tool_exec_environment_variables=related.secrets,
        tags=related.tags,
        tool_rules=agent.tool_rules,
        response_format=agent.response_format,
        compaction_settings=agent.compaction_settings,
        message_ids=related.message_ids,
        pending_approval=related.pending_approval,
        enable_sleeptime=agent.enable_sleeptime,
        managed_group=group,
        multi_agent_group=group,
        message_buffer_autoclear=agent.message_buffer_autoclear,
        timezone=agent.timezone,
        hidden=agent.hidden,
        last_run_completion=agent.last_run_completion,
        last_run_duration_ms=agent.last_run_duration_ms,
        last_stop_reason=agent.last_stop_reason,
        created_at=agent.created_at,
        updated_at=agent.updated_at,
    )
