"""Import: an agent file into an organization, every id new, in the caller's transaction.

Everything that can be refused is checked before the first write (the file's shape and
references, agent types, tool kinds, models, groups), and the writes share one transaction:
an import lands whole or not at all. The first thing that cannot be taken is named in a
4xx.

What maps how (the README's "Agent files" has the table): blocks, tools, MCP servers,
agents, messages and sleeptime groups become new rows; the in-context ids become the
agent's context window (its system message, then every message from the first in-context
one on); a sleeptime group's members start with the imported history counted as processed.
"""

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from pydantic import ValidationError

from app.agentfile import tools as file_tools
from app.agentfile.schemas import AgentFileSchema, AgentSchema
from app.agents import defaults
from app.agents.schemas import ToolRule
from app.groups import service as groups_service
from app.kit.errors import BadRequest, Unprocessable
from app.kit.schemas import unstorable
from app.providers.registry import ModelInfo, ProviderRegistry
from app.tools.service import rule_without

COPY_SUFFIX = "_copy"
SLEEPTIME_SUFFIX = "-sleeptime"


@dataclass(frozen=True, slots=True)
class ImportOptions:
    """Letta's import options (the form fields of ``POST /v1/agents/import``)."""

    append_copy_suffix: bool = True
    override_existing_tools: bool = True
    strip_messages: bool = False
    name: str | None = None
    model: str | None = None
    embedding: str | None = None
    secrets: dict[str, str] = field(default_factory=dict)


def parse(raw: bytes) -> AgentFileSchema:
    """The file as Letta's AgentFileSchema, or a 400 (not JSON, not an agent file) or a 422
    naming the first field that is wrong."""
    try:
        data: Any = json.loads(raw)
        if isinstance(data, str):  # a JSON-encoded file, as later Letta examples are stored
            data = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BadRequest(f"Corrupted agent file format: the file is not JSON ({exc})") from exc
    if not isinstance(data, dict) or not isinstance(data.get("agents"), list):
        raise BadRequest(
            "Not an agent file: expected a JSON object with an `agents` list (Letta's "
            "AgentFileSchema); the legacy single-agent format is not supported"
        )
    if (reason := unstorable(data)) is not None:
        raise Unprocessable(f"agent file: {reason}")
    try:
        return AgentFileSchema.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        loc = ".".join(str(p) for p in error["loc"])
        raise Unprocessable(f"agent file: {loc}: {error['msg']}") from exc


def _where(index: int, agent: AgentSchema) -> str:
    return f"agents[{index}] ({agent.name})"


def _check_refs(file: AgentFileSchema) -> None:
    """Every id an entity refers to is in the file; nothing of folders."""
    if file.sources or file.files or any(a.files_agents or a.source_ids for a in file.agents):
        raise BadRequest("sources/files: folders (sources and files) are not supported here")
    _check_unique(file)
    tools = {t.id for t in file.tools}
    blocks = {b.id for b in file.blocks}
    agents = {a.id for a in file.agents}
    for index, agent in enumerate(file.agents):
        where = _where(index, agent)
        for kind, refs, known in (
            ("tool_ids", agent.tool_ids, tools),
            ("block_ids", agent.block_ids, blocks),
        ):
            missing = [r for r in refs if r not in known]
            if missing:
                raise Unprocessable(f"{where}.{kind}: {missing[0]} is not in the file")
        messages = {m.id for m in agent.messages}
        missing = [m for m in agent.in_context_message_ids if m not in messages]
        if missing:
            raise Unprocessable(
                f"{where}.in_context_message_ids: {missing[0]} is not among its messages"
            )
    for index, group in enumerate(file.groups):
        manager = group.manager_config.manager_agent_id
        refs = [*group.agent_ids, *([manager] if manager is not None else [])]
        missing = [r for r in refs if r not in agents]
        if missing:
            raise Unprocessable(f"groups[{index}]: agent {missing[0]!r} is not in the file")


def _check_unique(file: AgentFileSchema) -> None:
    """No file id is used twice."""
    kinds: list[tuple[str, list[str]]] = [
        ("agents", [a.id for a in file.agents]),
        ("groups", [g.id for g in file.groups]),
        ("blocks", [b.id for b in file.blocks]),
        ("tools", [t.id for t in file.tools]),
        ("mcp_servers", [s.id for s in file.mcp_servers]),
    ]
    kinds += [
        (f"agents[{i}].messages", [m.id for m in a.messages]) for i, a in enumerate(file.agents)
    ]
    for kind, ids in kinds:
        seen: set[str] = set()
        for file_id in ids:
            if file_id in seen:
                raise Unprocessable(f"{kind}: the id {file_id!r} is used twice")
            seen.add(file_id)


def _check_groups(file: AgentFileSchema) -> None:
    types = {a.id: a.agent_type for a in file.agents}
    managers: set[str] = set()
    for index, group in enumerate(file.groups):
        config = group.manager_config
        where = f"groups[{index}]"
        if config.manager_type != groups_service.SLEEPTIME:
            raise BadRequest(
                f"{where}: manager_type {config.manager_type!r} is not supported; only "
                "sleeptime groups are"
            )
        manager = config.manager_agent_id
        if manager is None:
            raise Unprocessable(f"{where}.manager_config: a sleeptime group needs manager_agent_id")
        if types[manager] == "sleeptime_agent" or manager in managers:
            raise BadRequest(f"{where}: {manager} cannot manage this group")
        managers.add(manager)
        wrong = [a for a in group.agent_ids if types[a] != "sleeptime_agent" or a == manager]
        if wrong:
            raise BadRequest(f"{where}: member {wrong[0]} is not a sleeptime_agent")


def _handle(agent: AgentSchema, options: ImportOptions) -> str:
    if options.model:
        return options.model
    llm = agent.llm_config or {}
    handle = agent.model or llm.get("handle")
    if not handle and llm.get("model") and llm.get("model_endpoint_type"):
        handle = f"{llm['model_endpoint_type']}/{llm['model']}"
    if not isinstance(handle, str) or not handle:
        raise BadRequest("no model (neither `model` nor `llm_config`); pass the `model` option")
    return handle


def model_of(agent: AgentSchema, options: ImportOptions, registry: ProviderRegistry) -> ModelInfo:
    handle = _handle(agent, options)
    try:
        return registry.resolve(handle)
    except BadRequest as exc:
        raise BadRequest(
            f"{exc.message}. Import it with another model: set the `model` option "
            "(Letta's `override_model_handle`) to one this server offers"
        ) from exc


def rules_of(agent: AgentSchema, skipped: Sequence[str], where: str) -> list[dict[str, Any]]:
    """The agent's tool rules, checked, without those about the tools left out."""
    rules: list[dict[str, Any]] = []
    for index, raw in enumerate(agent.tool_rules or []):
        try:
            rule = ToolRule.model_validate(raw).model_dump()
        except ValidationError as exc:
            error = exc.errors()[0]
            raise Unprocessable(f"{where}.tool_rules[{index}]: {error['msg']}") from exc
        rules.append(rule)
    for name in skipped:
        rules = [r for r in (rule_without(rule, name) for rule in rules) if r is not None]
    return rules


def check(file: AgentFileSchema, options: ImportOptions, registry: ProviderRegistry) -> None:
    """Everything refused before a write: options, references, agent types, tool kinds,
    models."""
    if (reason := unstorable(asdict(options))) is not None:
        raise Unprocessable(f"options: {reason}")
    _check_refs(file)
    for index, agent in enumerate(file.agents):
        where = _where(index, agent)
        if agent.agent_type not in defaults.SUPPORTED_AGENT_TYPES:
            raise BadRequest(
                f"{where}: agent_type {agent.agent_type!r} is not supported; supported types: "
                + ", ".join(defaults.SUPPORTED_AGENT_TYPES)
            )
        try:
            model_of(agent, options, registry)
        except BadRequest as exc:
            raise BadRequest(f"{where}: {exc.message}") from exc
        rules_of(agent, (), where)
    for index, tool in enumerate(file.tools):
        file_tools.kind_of(tool, f"tools[{index}] ({tool.name})")
    _check_groups(file)
