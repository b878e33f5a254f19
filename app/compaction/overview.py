"""``GET /v1/agents/{id}/context``: the window a step of the agent would send now, part by
part, in Letta's ContextWindowOverview.

The parts are read in one short transaction; the tokens are counted after it, by the model's
provider where it has a counting endpoint (Anthropic's ``count_tokens``), else estimated as
the context budget is (about four characters a token). A count that fails falls back to the
estimates.
"""

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

from app.agents import service as agents
from app.agents.prompt import compile_system, prompt_parts
from app.auth.deps import Actor
from app.blocks.repository import BlockRepository
from app.compaction.schemas import ContextWindowOverview
from app.engine import context as ctxmod
from app.kit.db import Database
from app.messages.chat import summary_chat, text_of, to_chat
from app.messages.convert import letta_date
from app.messages.models import Message
from app.messages.repository import SYSTEM_SEQ, MessageRepository
from app.providers.anthropic import AnthropicProvider
from app.providers.base import LLMRequest, ProviderError
from app.providers.registry import ModelInfo, ProviderRegistry
from app.tools.repository import load_toolset

log = structlog.get_logger("app.compaction")


@dataclass(frozen=True, slots=True)
class _Parts:
    info: ModelInfo
    system: str
    memory: str
    metadata: str
    summary: str | None
    functions: list[dict[str, Any]]
    chat: list[dict[str, Any]]  # the window's messages as the model reads them
    window: list[Message]
    recall: int


def stored_form(message: Message) -> dict[str, Any]:
    """A stored message in Letta's own (not its wire) Message shape."""
    calls = [
        {
            "id": c["id"],
            "type": "function",
            "function": {"name": c["name"], "arguments": c["arguments"]},
        }
        for c in message.tool_calls or []
    ]
    return {
        "id": message.id,
        "agent_id": message.agent_id,
        "role": message.role,
        "content": message.content,
        "name": message.name,
        "tool_calls": calls or None,
        "tool_call_id": message.tool_call_id,
        "tool_returns": message.tool_returns or [],
        "approvals": message.approvals,
        "step_id": message.step_id,
        "run_id": message.run_id,
        "otid": message.otid,
        "group_id": message.group_id,
        "is_err": message.is_err,
        "created_at": letta_date(message.created_at),
    }


async def _parts(
    db: Database, registry: ProviderRegistry, actor: Actor, agent_id: str, max_messages: int
) -> _Parts:
    org = actor.organization_id
    async with db.session(write=False) as session:
        agent = await agents.get(session, actor, agent_id)
        blocks = [b for _, b in await BlockRepository(session, org).for_agents([agent.id])]
        messages = MessageRepository(session, org)
        window = await messages.in_context_messages(agent, max_messages)
        recall = await messages.count(agent.id)
        toolset = await load_toolset(session, org, agent.tool_names)
    info = registry.resolve_stored(agent.model, context_window=agent.context_window_limit)
    tools = ctxmod.tool_schemas(agent, toolset, {}, ctxmod.response_format(agent))
    evicted = max(agent.context_start_seq - 1, 0)
    memory, metadata = prompt_parts(agent, blocks, evicted)
    system = compile_system(agent, blocks, evicted).replace(memory, "").replace(metadata, "")
    summary = next((m for m in window if m.id == agent.summary_message_id), None)
    listed = [m for m in window if m.seq != SYSTEM_SEQ and m is not summary]
    return _Parts(
        info=info,
        system=system.rstrip(),
        memory=memory,
        metadata=metadata,
        summary=None if summary is None else summary_chat(text_of(summary.content))["content"],
        functions=[{"type": "function", "function": t} for t in tools],
        chat=[chat for m in listed for chat in to_chat(m)],
        window=window,
        recall=recall,
    )


def _estimates(parts: _Parts) -> dict[str, int]:
    def tokens(text: str | None) -> int:
        return ctxmod.estimate_tokens(text) if text else 0

    return {
        "system": tokens(parts.system),
        "memory": tokens(parts.memory),
        "external": tokens(parts.metadata),
        "summary": tokens(parts.summary),
        "functions": tokens(json.dumps(parts.functions)) if parts.functions else 0,
        "messages": sum(tokens(json.dumps(chat)) for chat in parts.chat),
    }


async def _counted(counter: AnthropicProvider, parts: _Parts) -> dict[str, int]:
    """Each part counted by the provider: a text as the only user message (less what an
    empty one costs), the tools against a probe, the messages as they are."""
    model = parts.info.model
    probe = [{"role": "user", "content": "."}]

    async def count(
        messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None
    ) -> int:
        return await counter.count_tokens(LLMRequest(model, messages, tools or []))

    async def text(value: str | None) -> int:
        return await count([{"role": "user", "content": value}]) if value else 0

    tools = [f["function"] for f in parts.functions]
    base, *counts = await asyncio.gather(
        count(probe),
        text(parts.system),
        text(parts.memory),
        text(parts.metadata),
        text(parts.summary),
        count(probe, tools) if tools else count(probe),
        count(parts.chat) if parts.chat else count(probe),
    )
    overhead = max(base - 1, 0)
    system, memory, external, summary, with_tools, chat = counts
    return {
        "system": max(system - overhead, 0) if parts.system else 0,
        "memory": max(memory - overhead, 0) if parts.memory else 0,
        "external": max(external - overhead, 0) if parts.metadata else 0,
        "summary": max(summary - overhead, 0) if parts.summary else 0,
        "functions": max(with_tools - base, 0),
        "messages": chat if parts.chat else 0,
    }


async def overview(
    db: Database,
    registry: ProviderRegistry,
    counter_for: Callable[[ModelInfo], AnthropicProvider | None],
    actor: Actor,
    agent_id: str,
    max_messages: int,
) -> ContextWindowOverview:
    """The agent's window now, part by part (``counter_for(info)``: the model's exact
    counter, or None)."""
    parts = await _parts(db, registry, actor, agent_id, max_messages)
    counts = _estimates(parts)
    counter = counter_for(parts.info)
    if counter is not None:
        try:
            counts = await _counted(counter, parts)
        except ProviderError as exc:
            log.warning("context.count_failed", agent_id=agent_id, error=str(exc))
    return ContextWindowOverview(
        context_window_size_max=parts.info.context_window,
        context_window_size_current=sum(counts.values()),
        num_messages=len(parts.window),
        num_archival_memory=0,
        num_recall_memory=parts.recall,
        num_tokens_external_memory_summary=counts["external"],
        external_memory_summary=parts.metadata,
        num_tokens_system=counts["system"],
        system_prompt=parts.system,
        num_tokens_core_memory=counts["memory"],
        core_memory=parts.memory,
        num_tokens_summary_memory=counts["summary"],
        summary_memory=parts.summary,
        num_tokens_functions_definitions=counts["functions"],
        functions_definitions=parts.functions or None,
        num_tokens_messages=counts["messages"],
        messages=[stored_form(m) for m in parts.window],
    )
