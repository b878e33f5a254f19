"""The writes of an import, in the caller's transaction (checks are ``importer.check``)."""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agentfile import tools as file_tools
from app.agentfile.archives import import_archives
from app.agentfile.export import SERVER_MARK
from app.agentfile.importer import ImportOptions, check, model_of, parse, rules_of
from app.agentfile.messages import from_file
from app.agentfile.schemas import AgentFileSchema, AgentSchema, ImportedAgentsResponse
from app.agents import defaults
from app.agents import settings as model_settings
from app.agents.models import Agent
from app.agents.prompts import DEFAULT_SYSTEM
from app.agents.repository import AgentRepository
from app.auth.deps import Actor
from app.blocks import service as blocks_service
from app.blocks.models import Block
from app.blocks.repository import BlockRepository
from app.blocks.schemas import BlockCreate
from app.config import Settings
from app.groups import service as groups_service
from app.groups.repository import GroupRepository
from app.kit.db import utcnow
from app.kit.errors import Unprocessable
from app.kit.ids import Prefix, new_id
from app.kit.schemas import INT32_MAX, ONE_DAY_SECONDS
from app.messages import history
from app.messages.chat import SUMMARY_ROLE
from app.messages.models import Message
from app.messages.repository import SYSTEM_SEQ, MessageRepository
from app.providers.registry import ProviderRegistry
from app.tools.builtin import BUILTIN_TOOLS

COPY_SUFFIX = "_copy"
MAX_NAME = 255
SLEEPTIME_SUFFIX = "-sleeptime"
_TICK = timedelta(microseconds=1)  # rows made together keep the file's order by time


def _bounded(value: Any, where: str, low: float, high: float) -> Any:
    if value is not None and not (low <= value <= high):
        raise Unprocessable(f"{where}: {value} is out of range ({low} to {high})")
    return value


def _blocks(
    session: AsyncSession, actor: Actor, file: AgentFileSchema, settings: Settings
) -> dict[str, Block]:
    repo = BlockRepository(session, actor.organization_id)
    made: dict[str, Block] = {}
    start = utcnow()
    for index, block in enumerate(file.blocks):
        value = block.value or ""
        limit = max(block.limit or settings.block_default_limit, len(value), 1)
        try:
            data = BlockCreate(
                label=block.label,
                value=value,
                limit=limit,
                description=block.description,
                read_only=bool(block.read_only),
                metadata=block.metadata or {},
                tags=block.tags,
            )
        except ValidationError as exc:
            error = exc.errors()[0]
            raise Unprocessable(f"blocks[{index}] ({block.label}): {error['msg']}") from exc
        row = blocks_service.new_block(repo, data, default_limit=limit, default_description=False)
        row.created_at = row.updated_at = start + index * _TICK
        made[block.id] = row
    return made


def _names(file: AgentFileSchema, options: ImportOptions) -> dict[str, str]:
    """Each agent's new name: ``name`` for the agents no group has as a member (their
    sleeptime agents follow as ``<name>-sleeptime``), then the copy suffix."""
    names = {a.id: a.name or defaults.random_name() for a in file.agents}
    if options.name:
        members = {m for g in file.groups for m in g.agent_ids}
        for agent in file.agents:
            if agent.id not in members:
                old, names[agent.id] = names[agent.id], options.name
                for group in file.groups:
                    if group.manager_config.manager_agent_id != agent.id:
                        continue
                    for member in group.agent_ids:
                        if names[member] == old + SLEEPTIME_SUFFIX:
                            names[member] = options.name + SLEEPTIME_SUFFIX
    suffix = COPY_SUFFIX if options.append_copy_suffix else ""
    final = {key: name + suffix for key, name in names.items()}
    long = next((n for n in final.values() if len(n) > MAX_NAME), None)
    if long is not None:
        raise Unprocessable(f"name: {long[:40]!r}... is longer than {MAX_NAME} characters")
    return final


def _enabled(file: AgentFileSchema, agent: AgentSchema) -> bool:
    """``enable_sleeptime`` as the file says; Letta writes false for every agent, so the
    manager of a sleeptime group in a file not made here is switched on."""
    ours = file.metadata.get("server", "").startswith(SERVER_MARK)
    manages = any(g.manager_config.manager_agent_id == agent.id for g in file.groups)
    return bool(agent.enable_sleeptime) or (manages and not ours)


def _settings(
    agent: AgentSchema, provider: str, model: str, max_tokens: int | None
) -> dict[str, Any]:
    llm = agent.llm_config or {}
    given = agent.model_settings
    if given is None:
        parallel = agent.parallel_tool_calls
        given = {
            "temperature": llm.get("temperature"),
            "parallel_tool_calls": llm.get("parallel_tool_calls") if parallel is None else parallel,
        }
    return model_settings.filled(provider, model, given, max_tokens=max_tokens)


def _secrets(agent: AgentSchema, options: ImportOptions) -> dict[str, str]:
    keys = {**(agent.tool_exec_environment_variables or {}), **(agent.secrets or {})}
    values = {key: str(value or "") for key, value in keys.items()}
    return values | options.secrets


def _agent(
    actor: Actor,
    file: AgentFileSchema,
    index: int,
    options: ImportOptions,
    registry: ProviderRegistry,
    tool_names: list[str],
    skipped: Sequence[str],
    name: str,
) -> Agent:
    agent = file.agents[index]
    where = f"agents[{index}] ({agent.name})"
    info = model_of(agent, options, registry)
    llm = agent.llm_config or {}
    window = agent.context_window_limit
    if window is None and llm.get("context_window") not in (None, info.context_window):
        window = llm["context_window"]  # the window it had, where ours would differ
    max_tokens = agent.max_tokens if agent.max_tokens is not None else llm.get("max_tokens")
    now = utcnow() + index * _TICK
    return Agent(
        id=new_id(Prefix.agent),
        organization_id=actor.organization_id,
        created_at=now,
        updated_at=now,
        name=name,
        agent_type=agent.agent_type,
        system=agent.system if agent.system is not None else DEFAULT_SYSTEM[agent.agent_type],
        description=agent.description,
        metadata_=agent.metadata,
        model=info.handle,
        embedding=options.embedding
        or agent.embedding
        or (agent.embedding_config or {}).get("handle"),
        model_settings=_settings(agent, info.provider, info.model, max_tokens),
        context_window_limit=_bounded(window, f"{where}.context_window_limit", 1, INT32_MAX),
        max_tokens=_bounded(max_tokens, f"{where}.max_tokens", 1, INT32_MAX),
        tool_names=tool_names,
        tool_rules=rules_of(agent, skipped, where),
        enable_sleeptime=_enabled(file, agent),
        message_buffer_autoclear=bool(agent.message_buffer_autoclear),
        timezone=agent.timezone,
        hidden=agent.hidden,
        response_format=agent.response_format,
        secrets=_secrets(agent, options),
        compaction_settings=agent.compaction_settings,
        last_message_seq=0,
        context_start_seq=0,
    )


def _tool_names(agent: AgentSchema, names: dict[str, str | None], where: str) -> list[str]:
    found = [n for n in (names[t] for t in agent.tool_ids) if n is not None]
    for name in agent.tools:
        if name not in BUILTIN_TOOLS and name not in found:
            raise Unprocessable(f"{where}.tools: {name!r} is neither a built-in nor in the file")
        found.append(name)
    return list(dict.fromkeys(found))


def _context(
    agent: AgentSchema, by_file: dict[str, Message], system_id: str | None, last: int
) -> tuple[int, str | None]:
    """(context_start_seq, summary_message_id) the in-context ids come to: the agent sees
    its system message, its summary message when the first in-context one is a summary,
    then every message from the first other in-context one on."""
    if not agent.in_context_message_ids:
        return 1, None
    ids = [i for i in agent.in_context_message_ids if i != system_id and i in by_file]
    summary = None
    if ids and by_file[ids[0]].role == SUMMARY_ROLE:
        summary, ids = by_file[ids[0]].id, ids[1:]
    return min((by_file[i].seq for i in ids), default=last + 1), summary


def _thread(
    agent: AgentSchema,
    row: Agent,
    blocks: Sequence[Block],
    groups: dict[str, str],
    options: ImportOptions,
    where: str,
) -> list[Message]:
    """The agent's stored messages: its system message at ``SYSTEM_SEQ`` (the file's, or
    one compiled now), the others numbered in the file's order."""
    items = [] if options.strip_messages else agent.messages
    in_context = set(agent.in_context_message_ids)
    systems = [m for m in items if m.role == "system"]
    system = next((m for m in systems if m.id in in_context), systems[0] if systems else None)
    org = row.organization_id

    def made(index: int) -> Message:
        item = items[index]
        group = groups.get(item.group_id or "")
        return from_file(item, org, row.id, group, f"{where}.messages[{index}]")

    first = made(items.index(system)) if system is not None else None
    rest = [made(i) for i, m in enumerate(items) if m is not system]
    for seq, message in enumerate(rest, start=SYSTEM_SEQ + 1):
        message.seq = seq
    row.last_message_seq = len(rest)
    if first is None:
        first = history.system_message(row, blocks)
    first.seq = SYSTEM_SEQ
    by_file = {
        item.id: m for item, m in zip((i for i in items if i is not system), rest, strict=True)
    }
    if system is not None:
        by_file[system.id] = first
    if not options.strip_messages:
        start, summary = _context(agent, by_file, system.id if system else None, len(rest))
        row.context_start_seq, row.summary_message_id = start, summary
    else:
        row.context_start_seq = 1
    row.pending_approval = _pending(rest)
    return [first, *rest]


def _pending(messages: Sequence[Message]) -> dict[str, Any] | None:
    """A thread that ends on calls awaiting approval is still waiting for them (with no
    run: the turn that paused was not imported)."""
    last = messages[-1] if messages else None
    if last is None or last.role != "assistant":
        return None
    paused = [c["id"] for c in last.tool_calls or [] if c.get("requires_approval")]
    if not paused:
        return None
    return {"message_id": last.id, "run_id": None, "tool_call_ids": paused}


async def _groups(
    session: AsyncSession, actor: Actor, file: AgentFileSchema, rows: dict[str, Agent]
) -> dict[str, str]:
    made: dict[str, str] = {}
    for index, group in enumerate(file.groups):
        config = group.manager_config
        where = f"groups[{index}].manager_config"
        frequency = _bounded(
            config.sleeptime_agent_frequency, f"{where}.sleeptime_agent_frequency", 1, INT32_MAX
        )
        debounce = (config.model_extra or {}).get("sleeptime_debounce_seconds")
        if debounce is not None and not isinstance(debounce, int | float):
            raise Unprocessable(f"{where}.sleeptime_debounce_seconds: must be a number")
        manager = rows[config.manager_agent_id or ""]
        enabled = manager.enable_sleeptime
        view = await groups_service.create_group(
            session,
            actor,
            manager=manager,
            member_ids=[rows[m].id for m in group.agent_ids],
            frequency=frequency,
            description=group.description or "",
            debounce_seconds=_bounded(
                debounce, f"{where}.sleeptime_debounce_seconds", 0, ONE_DAY_SECONDS
            ),
        )
        manager.enable_sleeptime = enabled
        made[group.id] = view.group.id
    return made


async def _agents(
    session: AsyncSession,
    actor: Actor,
    file: AgentFileSchema,
    options: ImportOptions,
    registry: ProviderRegistry,
    tools: file_tools.ImportedTools,
    blocks: dict[str, Block],
) -> dict[str, Agent]:
    """The agents (file id -> new row), with their blocks and tags."""
    names = _names(file, options)
    rows: dict[str, Agent] = {}
    repo = AgentRepository(session, actor.organization_id)
    for index, agent in enumerate(file.agents):
        tool_names = _tool_names(agent, tools.names, f"agents[{index}] ({agent.name})")
        rows[agent.id] = _agent(
            actor, file, index, options, registry, tool_names, tools.skipped, names[agent.id]
        )
        repo.add(rows[agent.id])
    await session.flush()
    block_repo = BlockRepository(session, actor.organization_id)
    for agent in file.agents:
        for block_id in dict.fromkeys(agent.block_ids):
            block_repo.attach(rows[agent.id].id, blocks[block_id].id)
        await repo.set_tags(rows[agent.id].id, agent.tags or [])
    await session.flush()
    return rows


async def import_file(
    session: AsyncSession,
    actor: Actor,
    raw: bytes,
    options: ImportOptions,
    registry: ProviderRegistry,
    settings: Settings,
) -> ImportedAgentsResponse:
    """Import an agent file (bytes as uploaded); nothing is written unless all of it is."""
    file = parse(raw)
    check(file, options, registry)
    servers = await file_tools.import_servers(session, actor, file.mcp_servers, settings.mcp_stdio)
    tools = await file_tools.import_tools(
        session, actor, file.tools, servers, override=options.override_existing_tools
    )
    blocks = _blocks(session, actor, file, settings)
    rows = await _agents(session, actor, file, options, registry, tools, blocks)
    groups = await _groups(session, actor, file, rows)
    messages = MessageRepository(session, actor.organization_id)
    for index, agent in enumerate(file.agents):
        attached = [blocks[b] for b in dict.fromkeys(agent.block_ids)]
        where = f"agents[{index}] ({agent.name})"
        await messages.insert(_thread(agent, rows[agent.id], attached, groups, options, where))
    if file.archives:
        await import_archives(session, actor, file.archives, rows)
    group_repo = GroupRepository(session, actor.organization_id)
    for group in file.groups:
        manager = rows[group.manager_config.manager_agent_id or ""]
        await group_repo.set_processed_through(groups[group.id], manager.last_message_seq)
    await session.flush()
    return ImportedAgentsResponse(
        agent_ids=[rows[a.id].id for a in file.agents],
        skipped_tools=sorted(set(tools.skipped)),
    )
