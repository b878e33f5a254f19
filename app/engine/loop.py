"""The agent loop, written once: load context, call the model, persist the step, decide.

It never holds a database session across a model call: each step reads its context in one
short transaction, calls the model with none open, then writes the step in another.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from app.agents.models import Agent
from app.agents.repository import AgentRepository
from app.blocks.repository import BlockRepository
from app.engine import context as ctxmod
from app.engine.events import ErrorEvent, EventSink, MessageEvent
from app.engine.results import StepOutcome, TurnOutcome, UsageTotals
from app.engine.tools import ToolContext, ToolResult, execute, failed
from app.kit.db import Database, utcnow
from app.kit.ids import Prefix, new_id
from app.messages.convert import SEND_MESSAGE, to_chat, to_letta_many
from app.messages.models import Message
from app.messages.repository import MessageRepository
from app.providers.base import LLMProvider, LLMRequest, LLMResponse, ProviderError
from app.providers.registry import ModelInfo, ProviderRegistry
from app.runs.models import Step

ProviderFactory = Callable[[ModelInfo], LLMProvider]


@dataclass(frozen=True, slots=True)
class TurnSpec:
    organization_id: str
    agent_id: str
    run_id: str
    max_steps: int
    group_id: str | None = None
    # Client-side tools of this request, as model-facing schemas keyed by name.
    client_tools: dict[str, dict[str, Any]] = field(default_factory=dict)


class ContextOverflowError(Exception):
    def __init__(self, stop_reason: str, message: str) -> None:
        super().__init__(message)
        self.stop_reason = stop_reason
        self.message = message


@dataclass(frozen=True, slots=True)
class _Step:
    agent: Agent
    window: ctxmod.Window
    request: LLMRequest
    info: ModelInfo


def _rules(agent: Agent, kind: str) -> set[str]:
    return {r["tool_name"] for r in agent.tool_rules if r.get("type") == kind}


class Engine:
    def __init__(
        self,
        db: Database,
        registry: ProviderRegistry,
        providers: ProviderFactory,
        *,
        max_context_messages: int,
    ) -> None:
        self.db = db
        self.registry = registry
        self.providers = providers
        self.max_context_messages = max_context_messages

    async def run(self, spec: TurnSpec, sink: EventSink, *, started_ns: int) -> TurnOutcome:
        totals, ttft = UsageTotals(), None
        for _ in range(spec.max_steps):
            try:
                step = await self._load(spec)
            except ContextOverflowError as exc:
                await sink.emit(ErrorEvent("context_window_overflow", exc.message))
                return TurnOutcome(
                    exc.stop_reason,
                    totals,
                    {"type": "context_window_overflow", "message": exc.message},
                )
            called = time.perf_counter_ns()
            try:
                response = await self.providers(step.info).complete(step.request)
            except ProviderError as exc:
                await self._record_failure(spec, step, exc, time.perf_counter_ns() - called)
                await sink.emit(ErrorEvent(exc.error_type, exc.message))
                return TurnOutcome(
                    exc.stop_reason, totals, {"type": exc.error_type, "message": exc.message}, ttft
                )
            ttft = ttft if ttft is not None else time.perf_counter_ns() - started_ns
            totals.add(response.usage)
            outcome = await self._commit(spec, step, response, time.perf_counter_ns() - called)
            for message in outcome.messages:
                await sink.emit(MessageEvent(message))
            if outcome.stop_reason is not None:
                return TurnOutcome(outcome.stop_reason, totals, None, ttft)
        return TurnOutcome("max_steps", totals, None, ttft)

    async def _load(self, spec: TurnSpec) -> _Step:
        async with self.db.session(write=False) as session:
            agent = await AgentRepository(session, spec.organization_id).get(spec.agent_id)
            if agent is None:
                raise ContextOverflowError("error", f"agent {spec.agent_id} no longer exists")
            pairs = await BlockRepository(session, spec.organization_id).for_agents([agent.id])
            recent = await MessageRepository(session, spec.organization_id).in_context(
                agent.id, agent.context_start_seq, self.max_context_messages
            )
        info = self.registry.resolve_stored(agent.model, context_window=agent.context_window_limit)
        system = ctxmod.compile_system(
            agent, [b for _, b in pairs], max(agent.context_start_seq - 1, 0)
        )
        tools = ctxmod.tool_schemas(agent, spec.client_tools)
        budget = ctxmod.budget(agent, info.context_window, system, tools)
        if budget <= 0:
            raise ContextOverflowError(
                "context_window_overflow_in_system_prompt",
                f"the system prompt and tools exceed the {info.context_window}-token window",
            )
        window = ctxmod.fit_window(recent, budget)
        if window is None:
            raise ContextOverflowError(
                "error", "the newest message alone exceeds the context window"
            )
        chat = [{"role": "system", "content": system}]
        chat += [c for m in window.messages for c in to_chat(m)]
        settings = agent.model_settings or {}
        request = LLMRequest(
            model=info.model,
            messages=chat,
            tools=tools,
            max_tokens=agent.max_tokens,
            temperature=settings.get("temperature"),
            parallel_tool_calls=settings.get("parallel_tool_calls"),
        )
        return _Step(agent, window, request, info)

    def _step_row(self, spec: TurnSpec, step: _Step, duration_ns: int) -> Step:
        return Step(
            id=new_id(Prefix.step),
            organization_id=spec.organization_id,
            run_id=spec.run_id,
            agent_id=spec.agent_id,
            provider_name=step.info.provider,
            model=step.info.model,
            model_endpoint=step.info.endpoint,
            context_window_limit=step.info.context_window,
            duration_ns=duration_ns,
            created_at=utcnow(),
        )

    async def _record_failure(
        self, spec: TurnSpec, step: _Step, exc: ProviderError, duration_ns: int
    ) -> None:
        row = self._step_row(spec, step, duration_ns)
        row.status, row.stop_reason, row.error_type = "failed", exc.stop_reason, exc.error_type
        row.error_data = {"message": exc.message, "status_code": exc.status_code}
        async with self.db.session() as session:
            session.add(row)

    async def _commit(
        self, spec: TurnSpec, step: _Step, response: LLMResponse, duration_ns: int
    ) -> StepOutcome:
        async with self.db.session() as session:
            agent = await AgentRepository(session, spec.organization_id).get(
                spec.agent_id, for_update=True
            )
            if agent is None:
                return StepOutcome("error", [])
            row = self._step_row(spec, step, duration_ns)
            pausing = _rules(agent, "requires_approval") | set(spec.client_tools)
            calls = [
                {"id": c.id, "name": c.name, "arguments": c.arguments}
                | ({"requires_approval": True} if c.name in pausing else {})
                for c in response.tool_calls
            ]
            assistant = self._message(
                spec, row.id, "assistant", content=_content(response), tool_calls=calls or None
            )
            assistant.text = _searchable(response)
            tctx = ToolContext(session, spec.organization_id, agent.id, spec.run_id)
            tool_messages = []
            for call in calls:
                if call.get("requires_approval"):
                    continue
                result = await self._run_tool(tctx, agent, call)
                tool_messages.append(self.tool_message(spec, row.id, str(call["id"]), result))
            stored = [assistant, *tool_messages]
            messages = MessageRepository(session, spec.organization_id)
            first = await messages.allocate_seq(agent.id, len(stored))
            for offset, message in enumerate(stored):
                message.seq = first + offset
            messages.add_all(stored)
            agent.context_start_seq = max(agent.context_start_seq, step.window.start_seq)
            stop = _decide(agent, calls, response)
            if stop == "requires_approval":
                paused = [c["id"] for c in calls if c.get("requires_approval")]
                agent.pending_approval = {
                    "message_id": assistant.id,
                    "run_id": spec.run_id,
                    "tool_call_ids": paused,
                }
            usage = response.usage
            row.prompt_tokens, row.completion_tokens = usage.prompt_tokens, usage.completion_tokens
            row.total_tokens, row.cached_input_tokens = (
                usage.total_tokens,
                usage.cached_input_tokens,
            )
            row.reasoning_tokens, row.status = usage.reasoning_tokens, "success"
            row.stop_reason = stop or "tool_calls"
            session.add(row)
        return StepOutcome(stop, to_letta_many(stored, agent.agent_type))

    async def _run_tool(self, ctx: ToolContext, agent: Agent, call: dict[str, Any]) -> ToolResult:
        if call["name"] not in agent.tool_names:
            return failed(f"Error: tool `{call['name']}` is not available to this agent.")
        return await execute(ctx, call["name"], call["arguments"])

    def _message(self, spec: TurnSpec, step_id: str | None, role: str, **fields: Any) -> Message:
        return Message(
            id=new_id(Prefix.message),
            organization_id=spec.organization_id,
            agent_id=spec.agent_id,
            role=role,
            run_id=spec.run_id,
            step_id=step_id,
            group_id=spec.group_id,
            is_err=False,
            created_at=utcnow(),
            **{"content": [], **fields},
        )

    def tool_message(
        self, spec: TurnSpec, step_id: str | None, call_id: str, result: ToolResult
    ) -> Message:
        message = self._message(
            spec,
            step_id,
            "tool",
            tool_call_id=call_id,
            tool_returns=[
                {
                    "tool_call_id": call_id,
                    "status": result.status,
                    "tool_return": result.text,
                    "stdout": None,
                    "stderr": None,
                }
            ],
        )
        message.text = result.text
        return message


def _content(response: LLMResponse) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if response.reasoning:
        parts.append({"type": "reasoning", "reasoning": response.reasoning, "is_native": True})
    if response.text:
        parts.append({"type": "text", "text": response.text})
    return parts


def _searchable(response: LLMResponse) -> str | None:
    texts = [response.text] if response.text else []
    for call in response.tool_calls:
        if call.name == SEND_MESSAGE:
            texts.append(call.arguments)
    return "\n".join(texts) or None


def _decide(agent: Agent, calls: list[dict[str, Any]], response: LLMResponse) -> str | None:
    if any(c.get("requires_approval") for c in calls):
        return "requires_approval"
    if any(c["name"] in _rules(agent, "exit_loop") for c in calls):
        return "tool_rule"
    if not calls:
        return "max_tokens_exceeded" if response.finish_reason == "length" else "end_turn"
    return None
