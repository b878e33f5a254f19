"""Agents: create (with the sleeptime companion), read, update, delete, core memory."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents import defaults
from app.agents import settings as model_settings
from app.agents.compaction import CompactionSettings
from app.agents.models import Agent
from app.agents.prompts import DEFAULT_SYSTEM, SLEEPTIME_PERSONA
from app.agents.repository import AgentRepository
from app.agents.schemas import CreateAgent, UpdateAgent, dump_response_format
from app.archival import service as archival
from app.auth.deps import Actor
from app.blocks import service as blocks_service
from app.blocks.models import Block
from app.blocks.repository import BlockRepository
from app.blocks.schemas import BlockCreate
from app.config import Settings
from app.groups import service as groups_service
from app.groups.repository import GroupRepository
from app.kit.db import utcnow
from app.kit.errors import BadRequest, NotFound
from app.kit.ids import Prefix, new_id
from app.kit.pagination import PageParams
from app.messages import history
from app.messages.repository import MessageRepository
from app.providers.registry import ProviderRegistry
from app.tools import service as tools_service
from app.tools.models import Tool


@dataclass(frozen=True, slots=True)
class Deps:
    """What agent operations need beyond the session: the model registry and settings."""

    registry: ProviderRegistry
    settings: Settings


def _model_handle(data: CreateAgent) -> str:
    if data.model:
        return data.model
    config = data.llm_config or {}
    if config.get("handle"):
        return str(config["handle"])
    if config.get("model") and config.get("model_endpoint_type"):
        return f"{config['model_endpoint_type']}/{config['model']}"
    raise BadRequest("model: Must specify either model or llm_config in request")


def _check_agent_type(agent_type: str) -> None:
    if agent_type not in defaults.SUPPORTED_AGENT_TYPES:
        raise BadRequest(
            f"agent_type: {agent_type!r} is not supported; supported types: "
            + ", ".join(defaults.SUPPORTED_AGENT_TYPES)
        )


async def _tools(
    session: AsyncSession, actor: Actor, names: Sequence[str] | None, ids: Sequence[str] | None
) -> list[tools_service.AnyTool]:
    """The tools asked for by name or id, built-in or registered in the organization."""
    return await tools_service.resolve(session, actor.organization_id, names, ids)


def _approval_rules(
    tools: Sequence[tools_service.AnyTool], rules: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A ``requires_approval`` rule for each tool registered with
    ``default_requires_approval`` that has none yet (Letta adds them on attach)."""
    covered = {r.get("tool_name") for r in rules if r.get("type") == "requires_approval"}
    return [
        {"tool_name": t.name, "type": "requires_approval"}
        for t in tools
        if isinstance(t, Tool) and t.default_requires_approval and t.name not in covered
    ]


async def _existing_blocks(repo: BlockRepository, block_ids: Sequence[str]) -> list[Block]:
    found = {b.id: b for b in await repo.get_many(block_ids)}
    missing = [i for i in dict.fromkeys(block_ids) if i not in found]
    if missing:
        raise NotFound(f"block_ids: block(s) not found: {', '.join(missing)}")
    return [found[i] for i in dict.fromkeys(block_ids)]


def _check_unique_labels(labels: Sequence[str], field: str) -> None:
    seen: set[str] = set()
    for label in labels:
        if label in seen:
            raise BadRequest(f"{field}: more than one block is labelled {label!r}")
        seen.add(label)


def _new_agent(actor: Actor, **fields: object) -> Agent:
    now = utcnow()
    return Agent(
        id=new_id(Prefix.agent),
        organization_id=actor.organization_id,
        created_at=now,
        updated_at=now,
        last_message_seq=0,
        context_start_seq=0,
        **fields,
    )


async def _tools_and_rules(
    session: AsyncSession, actor: Actor, data: CreateAgent, sleeptime: bool
) -> tuple[list[str], list[dict[str, Any]]]:
    base = defaults.base_tools(data.agent_type, enable_sleeptime=sleeptime)
    requested = await _tools(session, actor, data.tools, data.tool_ids)
    names = [*(base if data.include_base_tools else ()), *(t.name for t in requested)]
    tool_names = list(dict.fromkeys(names))
    with_base = defaults.wants_base_rules(
        data.agent_type, enable_sleeptime=sleeptime, requested=data.include_base_tool_rules
    )
    user_rules = [r.model_dump() for r in data.tool_rules or ()]
    rules = defaults.merge_rules(tool_names, user_rules, with_base=with_base)
    return tool_names, rules + _approval_rules(requested, rules)


async def create(session: AsyncSession, actor: Actor, data: CreateAgent, deps: Deps) -> Agent:
    """Create an agent with its blocks, its starting history and, with ``enable_sleeptime``,
    its sleeptime agent. A ``sleeptime_agent`` may ask for ``enable_sleeptime`` too (Letta
    accepts it); it keeps the flag but gets no sleeptime agent of its own, being one."""
    _check_agent_type(data.agent_type)
    handle = _model_handle(data)
    info = deps.registry.resolve(handle, context_window=data.context_window_limit)
    sleeptime = bool(data.enable_sleeptime)
    is_helper = data.agent_type == "sleeptime_agent"
    tool_names, tool_rules = await _tools_and_rules(session, actor, data, sleeptime)
    blocks = BlockRepository(session, actor.organization_id)
    attached = await _existing_blocks(blocks, data.block_ids or [])
    new_blocks = data.memory_blocks or []
    _check_unique_labels(
        [b.label for b in attached] + [b.label for b in new_blocks], "memory_blocks"
    )
    max_tokens = model_settings.max_tokens_of(data.model_settings, data.max_tokens)
    agent = _new_agent(
        actor,
        name=data.name or defaults.random_name(),
        agent_type=data.agent_type,
        system=data.system or DEFAULT_SYSTEM[data.agent_type],
        description=data.description,
        metadata_=data.metadata,
        model=handle,
        embedding=data.embedding,
        model_settings=model_settings.filled(
            info.provider,
            info.model,
            data.model_settings,
            max_tokens=max_tokens,
            parallel_tool_calls=data.parallel_tool_calls,
        ),
        context_window_limit=data.context_window_limit,
        max_tokens=max_tokens,
        tool_names=tool_names,
        tool_rules=tool_rules,
        response_format=dump_response_format(data.response_format),
        compaction_settings=_compaction(data.compaction_settings, deps),
        enable_sleeptime=sleeptime and is_helper,
        message_buffer_autoclear=data.message_buffer_autoclear,
        timezone=data.timezone,
        hidden=data.hidden,
        secrets=secrets_of(data.secrets, data.tool_exec_environment_variables) or {},
    )
    agents = AgentRepository(session, actor.organization_id)
    agents.add(agent)
    default_limit = deps.settings.block_default_limit
    attached += [
        blocks_service.new_block(blocks, b, default_limit=default_limit, default_description=True)
        for b in new_blocks
    ]
    boot = defaults.starts_with_boot_messages(data.agent_type, enable_sleeptime=sleeptime)
    starting = history.starting(agent, attached, data.initial_message_sequence, boot=boot)
    await session.flush()
    for block in attached:
        blocks.attach(agent.id, block.id)
    await agents.set_tags(agent.id, data.tags or [])
    MessageRepository(session, actor.organization_id).add_all(starting)
    await session.flush()
    if sleeptime and not is_helper:
        await _add_sleeptime_agent(session, actor, agent, attached, deps)
    return agent


async def _add_sleeptime_agent(
    session: AsyncSession, actor: Actor, primary: Agent, blocks: Sequence[Block], deps: Deps
) -> None:
    """Create ``<name>-sleeptime`` sharing the primary's blocks, and the group linking them."""
    repo = BlockRepository(session, actor.organization_id)
    persona = blocks_service.new_block(
        repo,
        BlockCreate(label="memory_persona", value=SLEEPTIME_PERSONA),
        default_limit=deps.settings.block_default_limit,
        default_description=False,
    )
    tools = list(defaults.SLEEPTIME_TOOLS)
    helper = _new_agent(
        actor,
        name=f"{primary.name}-sleeptime",
        agent_type="sleeptime_agent",
        system=DEFAULT_SYSTEM["sleeptime_agent"],
        model=primary.model,
        embedding=primary.embedding,
        model_settings=primary.model_settings,
        context_window_limit=primary.context_window_limit,
        max_tokens=primary.max_tokens,
        tool_names=tools,
        tool_rules=defaults.merge_rules(tools, [], with_base=True),
        enable_sleeptime=False,
        message_buffer_autoclear=False,
        timezone=primary.timezone,
    )
    AgentRepository(session, actor.organization_id).add(helper)
    starting = history.starting(helper, [*blocks, persona], None, boot=False)
    await session.flush()
    for block in [*blocks, persona]:
        repo.attach(helper.id, block.id)
    MessageRepository(session, actor.organization_id).add_all(starting)
    await session.flush()
    await groups_service.create_group(
        session,
        actor,
        manager=primary,
        member_ids=[helper.id],
        frequency=deps.settings.sleeptime_default_frequency,
    )


async def get(
    session: AsyncSession, actor: Actor, agent_id: str, *, for_update: bool = False
) -> Agent:
    agent = await AgentRepository(session, actor.organization_id).get(
        agent_id, for_update=for_update
    )
    if agent is None:
        raise NotFound(f"Agent {agent_id} not found")
    return agent


async def list_agents(
    session: AsyncSession,
    actor: Actor,
    params: PageParams,
    *,
    name: str | None,
    query_text: str | None,
    tags: Sequence[str],
    match_all_tags: bool,
) -> Sequence[Agent]:
    return await AgentRepository(session, actor.organization_id).list_page(
        params, name=name, query_text=query_text, tags=tags, match_all_tags=match_all_tags
    )


_PLAIN_FIELDS = (
    "name",
    "system",
    "embedding",
    "context_window_limit",
    "max_tokens",
    "message_buffer_autoclear",
    "hidden",
)
_NULLABLE_FIELDS = ("description", "timezone")


async def _replace_blocks(
    session: AsyncSession, actor: Actor, agent: Agent, ids: list[str]
) -> None:
    repo = BlockRepository(session, actor.organization_id)
    wanted = await _existing_blocks(repo, ids)
    _check_unique_labels([b.label for b in wanted], "block_ids")
    current = {b.id for _, b in await repo.for_agents([agent.id])}
    for block_id in current - set(ids):
        await repo.detach([agent.id], block_id)
    for block in wanted:
        if block.id not in current:
            repo.attach(agent.id, block.id)


async def count_agents(
    session: AsyncSession,
    actor: Actor,
    *,
    name: str | None,
    query_text: str | None,
    tags: Sequence[str],
    match_all_tags: bool,
) -> int:
    return await AgentRepository(session, actor.organization_id).count(
        name=name, query_text=query_text, tags=tags, match_all_tags=match_all_tags
    )


def _apply_fields(agent: Agent, data: UpdateAgent, deps: Deps) -> None:
    """The fields that need no other table (tools are set apart)."""
    fields = data.model_fields_set
    for name in _PLAIN_FIELDS:
        if name in fields and getattr(data, name) is not None:
            setattr(agent, name, getattr(data, name))
    for name in _NULLABLE_FIELDS:
        if name in fields:
            setattr(agent, name, getattr(data, name))
    if "metadata" in fields:
        agent.metadata_ = data.metadata
    _apply_model(agent, data, deps)
    if data.tool_rules is not None:
        agent.tool_rules = [r.model_dump() for r in data.tool_rules]
    if "response_format" in fields:
        agent.response_format = dump_response_format(data.response_format)
    if "compaction_settings" in fields:
        agent.compaction_settings = _compaction(data.compaction_settings, deps)
    secrets = secrets_of(data.secrets, data.tool_exec_environment_variables)
    if secrets is not None:
        agent.secrets = secrets


def _compaction(settings: CompactionSettings | None, deps: Deps) -> dict[str, Any] | None:
    """Settings as stored; a summarising model must be one the server can call."""
    if settings is None:
        return None
    if settings.model is not None:
        deps.registry.resolve(settings.model, field="compaction_settings.model")
    return settings.stored()


def secrets_of(
    secrets: dict[str, str] | None, legacy: dict[str, str] | None
) -> dict[str, str] | None:
    """The agent's tool environment as given: Letta's ``secrets``, or the older
    ``tool_exec_environment_variables`` (``secrets`` wins when both are sent). None: left
    unchanged."""
    if secrets is None and legacy is None:
        return None
    return {**(legacy or {}), **(secrets or {})} if secrets is None else dict(secrets)


def _apply_model(agent: Agent, data: UpdateAgent, deps: Deps) -> None:
    """The model and its settings: a new model starts from its own defaults (as in Letta),
    settings sent are merged over the current ones, and ``max_tokens`` and the settings'
    ``max_output_tokens`` stay one value."""
    switched = data.model is not None and data.model != agent.model
    if data.model is not None:
        deps.registry.resolve(data.model, context_window=agent.context_window_limit)
        agent.model = data.model
    changed = (data.model_settings, data.max_tokens, data.parallel_tool_calls)
    if not switched and all(value is None for value in changed):
        return
    agent.max_tokens = (
        model_settings.max_tokens_of(data.model_settings, data.max_tokens) or agent.max_tokens
    )
    current = None if switched else agent.model_settings
    info = deps.registry.resolve_stored(agent.model, context_window=agent.context_window_limit)
    agent.model_settings = model_settings.filled(
        info.provider,
        info.model,
        {**(current or {}), **(data.model_settings or {})},
        max_tokens=agent.max_tokens,
        parallel_tool_calls=data.parallel_tool_calls,
    )


async def update(
    session: AsyncSession, actor: Actor, agent_id: str, data: UpdateAgent, deps: Deps
) -> Agent:
    agent = await get(session, actor, agent_id, for_update=True)
    if data.tools is not None or data.tool_ids is not None:
        tools = await _tools(session, actor, data.tools, data.tool_ids)
        agent.tool_names = [t.name for t in tools]
        rules = list(agent.tool_rules)
        agent.tool_rules = rules + _approval_rules(tools, rules)
    _apply_fields(agent, data, deps)
    if data.tags is not None:
        await AgentRepository(session, actor.organization_id).set_tags(agent.id, data.tags)
    if data.block_ids is not None:
        await _replace_blocks(session, actor, agent, data.block_ids)
    if data.enable_sleeptime is not None:
        await _set_sleeptime(session, actor, agent, data.enable_sleeptime, deps)
    agent.updated_at = utcnow()
    await session.flush()
    return agent


async def _set_sleeptime(
    session: AsyncSession, actor: Actor, agent: Agent, enabled: bool, deps: Deps
) -> None:
    """Switch sleeptime on or off; switching a primary on the first time creates its
    sleeptime agent."""
    agent.enable_sleeptime = enabled
    if not enabled or agent.agent_type == "sleeptime_agent":
        return  # a sleeptime agent keeps the flag, as on create, and gets no helper
    if not await GroupRepository(session, actor.organization_id).managed_by([agent.id]):
        pairs = await BlockRepository(session, actor.organization_id).for_agents([agent.id])
        await _add_sleeptime_agent(session, actor, agent, [b for _, b in pairs], deps)


async def delete(session: AsyncSession, actor: Actor, agent_id: str) -> None:
    """Delete an agent; a primary takes its sleeptime agents and group with it, and a group
    left without members by this deletion goes too."""
    agent = await get(session, actor, agent_id, for_update=True)
    groups = GroupRepository(session, actor.organization_id)
    doomed = [agent.id]
    managed = await groups.managed_by([agent.id])
    members = await groups.member_ids([g.id for g in managed])
    for group in managed:
        doomed += members.get(group.id, [])
        await groups_service.delete_group(session, actor, group)
    for group in await groups.containing(agent.id):
        remaining = (await groups.member_ids([group.id])).get(group.id, [])
        if set(remaining) <= set(doomed):
            await groups_service.delete_group(session, actor, group)
    await archival.delete_owned(session, actor, doomed)
    await AgentRepository(session, actor.organization_id).delete_many(doomed)
    await session.flush()


async def set_tool_approval(
    session: AsyncSession, actor: Actor, agent_id: str, tool_name: str, required: bool
) -> Agent:
    """Add or drop the ``requires_approval`` rule of one of the agent's tools."""
    agent = await get(session, actor, agent_id, for_update=True)
    if tool_name not in agent.tool_names:
        raise NotFound(f"Tool {tool_name!r} is not attached to agent {agent_id}")
    rules = [
        r
        for r in agent.tool_rules
        if not (r.get("tool_name") == tool_name and r.get("type") == "requires_approval")
    ]
    if required:
        rules.append({"tool_name": tool_name, "type": "requires_approval"})
    agent.tool_rules = rules
    agent.updated_at = utcnow()
    await session.flush()
    return agent


async def attach_tool(session: AsyncSession, actor: Actor, agent_id: str, tool_id: str) -> Agent:
    """Give the agent a tool (built-in or registered) by id; attaching it again changes
    nothing."""
    agent = await get(session, actor, agent_id, for_update=True)
    tool = await tools_service.get(session, actor.organization_id, tool_id)
    if tool.name not in agent.tool_names:
        agent.tool_names = [*agent.tool_names, tool.name]
        rules = list(agent.tool_rules)
        agent.tool_rules = rules + _approval_rules([tool], rules)
        agent.updated_at = utcnow()
        await session.flush()
    return agent


async def detach_tool(session: AsyncSession, actor: Actor, agent_id: str, tool_id: str) -> Agent:
    """Take a tool from the agent, with the tool rules about it."""
    agent = await get(session, actor, agent_id, for_update=True)
    tool = await tools_service.get(session, actor.organization_id, tool_id)
    if tool.name in agent.tool_names:
        agent.tool_names = [n for n in agent.tool_names if n != tool.name]
        rules = (tools_service.rule_without(r, tool.name) for r in agent.tool_rules)
        agent.tool_rules = [r for r in rules if r is not None]
        agent.updated_at = utcnow()
        await session.flush()
    return agent
