"""The agent loop, written once: load context, call the model, persist the step, decide.

It never holds a database session across a model call: each step reads its context in one
short transaction, calls the model with none open, then writes the step in another.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.agents.prompt import MemoryView, compile_system
from app.agents.repository import AgentRepository
from app.blocks.repository import BlockRepository
from app.engine import answer, model_call, rules
from app.engine import context as ctxmod
from app.engine.events import ErrorEvent, EventSink, MessageEvent
from app.engine.memory import DirectMemory, StagedMemory
from app.engine.results import StepOutcome, TurnOutcome, UsageTotals
from app.engine.tools import ToolContext, ToolResult, execute, failed
from app.kit.db import Database
from app.kit.ids import Prefix, new_id
from app.messages.convert import shows_replies, to_letta_many
from app.messages.factory import Owner, new_message, tool_result
from app.messages.recent import ChatRow
from app.messages.repository import MessageRepository
from app.providers.base import (
    LLMProvider,
    LLMRequest,
    LLMResponse,
    ProviderError,
)
from app.providers.registry import ModelInfo, ProviderRegistry
from app.runs.models import Step
from app.runs.repository import RunRepository
from app.runs.states import StopReason
from app.streaming.recorder import RunRecorder
from app.streaming.tokens import TokenRelay

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
    # Set for runs whose memory edits must land together at the end (sleeptime runs).
    staged: StagedMemory | None = None
    # A token budget for the whole turn; reaching it ends the turn like max_steps.
    max_total_tokens: int | None = None
    # Where the run's stream events go (numbered, kept, and published live).
    recorder: RunRecorder | None = None
    # Relay the model's tokens as they come (needs a recorder), instead of whole messages.
    stream_tokens: bool = False
    # A model handle to run this turn on instead of the agent's (``override_model``).
    model: str | None = None
    # Letta's ``use_assistant_message``: a memgpt_v2_agent's send_message is its reply.
    use_assistant_message: bool = True


@dataclass(slots=True)
class _Turn:
    """What one turn accumulates across its steps."""

    started_ns: int
    finish: "FinishHook"
    cancel: asyncio.Event
    recorder: RunRecorder | None
    totals: UsageTotals = field(default_factory=UsageTotals)
    ttft: int | None = None
    produced: tuple[int, str] | None = None  # last stored (seq, message id) of the turn
    sleeptime: bool = False  # the agent had sleeptime enabled when its last step began
    called: list[str] = field(default_factory=list)  # the tools the turn has called

    def outcome(self, stop_reason: StopReason, error: dict[str, Any] | None) -> TurnOutcome:
        last_seq, last_id = self.produced if self.produced else (None, None)
        return TurnOutcome(
            stop_reason,
            self.totals,
            error,
            self.ttft,
            last_seq=last_seq,
            last_message_id=last_id,
            sleeptime_enabled=self.sleeptime,
        )


class ContextOverflowError(Exception):
    """The context cannot be built; returned (not raised) by ``prepare``."""

    def __init__(self, stop_reason: StopReason, message: str) -> None:
        super().__init__(message)
        self.stop_reason = stop_reason
        self.message = message


@dataclass(frozen=True, slots=True)
class _Step:
    agent: Agent
    window: ctxmod.Window
    request: LLMRequest
    info: ModelInfo
    step_id: str


Prepared = _Step | ContextOverflowError


FinishHook = Callable[[AsyncSession, TurnOutcome], Awaitable[None]]


class Engine:
    """Runs turns. The caller supplies ``finish``, which commits the run's end in the same
    transaction as the turn's last step; with the first context loaded in the caller's
    acceptance transaction, a one-step turn costs two transactions."""

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

    def check_model(self, handle: str | None) -> None:
        """A turn's ``override_model`` must name a configured model (400 otherwise), so a
        request naming another is refused before its run is accepted."""
        if handle is not None:
            self.registry.resolve(handle, field="override_model")

    async def run(
        self,
        spec: TurnSpec,
        sink: EventSink,
        *,
        started_ns: int,
        first: Prepared | None,
        finish: FinishHook,
        cancel: asyncio.Event | None = None,
    ) -> TurnOutcome:
        turn = _Turn(started_ns, finish, cancel or asyncio.Event(), spec.recorder)
        try:
            return await self._steps(spec, sink, turn, first)
        except BaseException:
            if spec.recorder is not None:
                # The transaction that failed took its events with it: no follower may be
                # told of them (a stored reply, an end) now.
                spec.recorder.discard()
            raise

    async def _steps(
        self, spec: TurnSpec, sink: EventSink, turn: "_Turn", first: Prepared | None
    ) -> TurnOutcome:
        for index in range(spec.max_steps):
            if turn.cancel.is_set():
                return await self._end(turn, StopReason.cancelled, None)
            step = first if index == 0 else None
            if step is None:
                async with self.db.session(write=False) as session:
                    step = await self.prepare(session, spec)
            if isinstance(step, _Step):
                turn.sleeptime = step.agent.enable_sleeptime
            if isinstance(step, ContextOverflowError):
                error = {"type": "context_window_overflow", "message": step.message}
                await sink.emit(ErrorEvent("context_window_overflow", step.message))
                return await self._end(turn, step.stop_reason, error)
            called = time.perf_counter_ns()
            message_id = new_id(Prefix.message)
            relay = self._relay(spec, step, message_id)
            provider = self.providers(step.info)
            try:
                response = await model_call.call_model(provider, step.request, relay, turn.cancel)
            except model_call.TurnCancelledError:
                return await self._end(turn, StopReason.cancelled, None)
            except ProviderError as exc:
                took = time.perf_counter_ns() - called
                return await self._provider_failed(spec, sink, turn, step, exc, took, relay)
            turn.ttft = turn.ttft or time.perf_counter_ns() - turn.started_ns
            turn.totals.add(response.usage)
            over_budget = spec.max_total_tokens is not None and (
                turn.totals.prompt_tokens + turn.totals.completion_tokens >= spec.max_total_tokens
            )
            last = index == spec.max_steps - 1 or over_budget
            took = time.perf_counter_ns() - called
            decided = await self._commit(spec, step, response, took, turn, last, message_id)
            for message in decided.messages:
                await sink.emit(MessageEvent(message))
            if decided.outcome is not None:
                return decided.outcome
        raise AssertionError("unreachable: the last step always decides")

    def _relay(self, spec: TurnSpec, step: _Step, message_id: str) -> TokenRelay | None:
        """What relays the model's tokens to the run's stream, when the turn asked for it."""
        if not spec.stream_tokens or spec.recorder is None:
            return None
        return model_call.token_relay(
            self.db,
            spec.recorder,
            step.agent,
            step_id=step.step_id,
            message_id=message_id,
            client_tools=set(spec.client_tools),
            use_assistant_message=spec.use_assistant_message,
        )

    async def _provider_failed(
        self,
        spec: TurnSpec,
        sink: EventSink,
        turn: "_Turn",
        step: _Step,
        exc: ProviderError,
        took: int,
        relay: TokenRelay | None,
    ) -> TurnOutcome:
        """End the turn on a failed model call, with nothing of the step stored."""
        message = model_call.failure_message(exc, relay)
        await sink.emit(ErrorEvent(exc.error_type, message))
        failed = self._step_row(spec, step, took)
        answer.fill_failure(failed, exc)
        error = {"type": exc.error_type, "message": message}
        return await self._end(turn, exc.stop_reason, error, failed)

    async def _end(
        self,
        turn: "_Turn",
        stop_reason: StopReason,
        error: dict[str, Any] | None,
        failed_step: Step | None = None,
    ) -> TurnOutcome:
        outcome = turn.outcome(stop_reason, error)
        async with self.db.session() as session:
            if failed_step is not None:
                await RunRepository(session, failed_step.organization_id).insert_step(failed_step)
            await turn.finish(session, outcome)
        if turn.recorder is not None:
            await turn.recorder.publish()
        return outcome

    async def prepare(
        self, session: AsyncSession, spec: TurnSpec, agent: Agent | None = None
    ) -> Prepared:
        """The next step's context, read with the caller's session (and agent, if loaded)."""
        agent = agent or await AgentRepository(session, spec.organization_id).get(spec.agent_id)
        if agent is None:
            return ContextOverflowError(StopReason.error, f"agent {spec.agent_id} no longer exists")
        pairs = await BlockRepository(session, spec.organization_id).for_agents([agent.id])
        recent = await MessageRepository(session, spec.organization_id).in_context(
            agent.id, agent.context_start_seq, self.max_context_messages
        )
        blocks: list[MemoryView] = [b for _, b in pairs]
        if spec.staged is not None:
            blocks = spec.staged.overlay(blocks)
        return self._build(spec, agent, blocks, recent)

    def _build(
        self, spec: TurnSpec, agent: Agent, blocks: list[MemoryView], recent: list[ChatRow]
    ) -> Prepared:
        if spec.model:
            info = self.registry.resolve(spec.model, field="override_model")
        else:
            info = self.registry.resolve_stored(
                agent.model, context_window=agent.context_window_limit
            )
        system = compile_system(agent, blocks, max(agent.context_start_seq - 1, 0))
        response_format = ctxmod.response_format(agent)
        tools = ctxmod.tool_schemas(agent, spec.client_tools, response_format)
        budget = ctxmod.budget(agent, info.context_window, system, tools)
        if budget <= 0:
            return ContextOverflowError(
                StopReason.context_window_overflow_in_system_prompt,
                f"the system prompt and tools exceed the {info.context_window}-token window",
            )
        window = ctxmod.fit_window(recent, budget)
        if window is None:
            return ContextOverflowError(
                StopReason.error, "the newest message alone exceeds the window"
            )
        chat = [{"role": "system", "content": system}, *window.chat]
        settings = agent.model_settings or {}
        request = LLMRequest(
            model=info.model,
            messages=chat,
            tools=tools,
            max_tokens=agent.max_tokens,
            temperature=settings.get("temperature"),
            parallel_tool_calls=settings.get("parallel_tool_calls"),
            tool_choice=rules.tool_choice(agent, bool(tools)),
            response_format=response_format,
        )
        return _Step(agent, window, request, info, new_id(Prefix.step))

    def _step_row(self, spec: TurnSpec, step: _Step, duration_ns: int) -> Step:
        return answer.step_row(
            step_id=step.step_id,
            organization_id=spec.organization_id,
            run_id=spec.run_id,
            agent_id=spec.agent_id,
            info=step.info,
            duration_ns=duration_ns,
        )

    async def _commit(
        self,
        spec: TurnSpec,
        step: _Step,
        response: LLMResponse,
        duration_ns: int,
        turn: "_Turn",
        last: bool,
        message_id: str,
    ) -> StepOutcome:
        """Persist the step: run its server tools, store its messages and step row, and decide.
        The agent's configuration is the one the step was prepared with."""
        agent = step.agent
        row = self._step_row(spec, step, duration_ns)
        pausing = rules.rule_names(agent, "requires_approval") | set(spec.client_tools)
        calls = answer.tool_calls(response, pausing)
        assistant = new_message(
            self._owner(spec),
            "assistant",
            step_id=row.id,
            content=answer.content(response),
            tool_calls=calls or None,
        )
        assistant.id = message_id
        assistant.text = answer.searchable(response)
        turn.called += [str(c["name"]) for c in calls]
        stop = rules.decide(agent, calls, response, turn.called)
        agent_values = answer.agent_changes(
            context_start=(agent.context_start_seq, step.window.start_seq),
            stop=stop,
            message_id=assistant.id,
            calls=calls,
            run_id=spec.run_id,
        )
        async with self.db.session() as session:
            memory = spec.staged or DirectMemory(
                session, spec.organization_id, agent.id, spec.run_id
            )
            tctx = ToolContext(session, spec.organization_id, agent.id, spec.run_id, memory)
            stored = [assistant]
            for call in calls:
                if not call.get("requires_approval"):
                    result = await self._run_tool(tctx, agent, call)
                    owner, call_id = self._owner(spec), str(call["id"])
                    returned = tool_result(
                        owner, call_id, result.status, result.text, step_id=row.id
                    )
                    returned.name = answer.result_name(str(call["name"]))  # as Letta does
                    stored.append(returned)
            messages = MessageRepository(session, spec.organization_id)
            first = await messages.allocate_seq(agent.id, len(stored), **agent_values)
            if first is None:
                error = {"type": "internal_error", "message": "the agent was deleted mid-turn"}
                ended = turn.outcome(StopReason.error, error)
                await turn.finish(session, ended)
                return StepOutcome(ended, [])
            turn.produced = (first + len(stored) - 1, stored[-1].id)
            for offset, message in enumerate(stored):
                message.seq = first + offset
            await messages.insert(stored)
            answer.fill_usage(row, response, stop)
            await RunRepository(session, spec.organization_id).insert_step(row)
            if stop is None and last:
                stop = StopReason.max_steps
            outcome = None if stop is None else turn.outcome(stop, rules.stop_error(stop))
            replies = shows_replies(agent.agent_type, spec.use_assistant_message)
            letta = to_letta_many(stored, agent.agent_type, assistant_messages=replies)
            if spec.recorder is not None:
                # With tokens relayed, the relay sent the model's answer: its results remain.
                # The turn's end writes its closing events: both go in one insert then.
                sent = assistant.id if spec.stream_tokens else None
                unstreamed: list[dict[str, Any] | str] = [m for m in letta if m["id"] != sent]
                await spec.recorder.write(session, unstreamed, flush=outcome is None)
            if outcome is not None:
                await turn.finish(session, outcome)
        if spec.recorder is not None:
            await spec.recorder.publish()
        return StepOutcome(outcome, letta)

    async def _run_tool(self, ctx: ToolContext, agent: Agent, call: dict[str, Any]) -> ToolResult:
        if call["name"] not in agent.tool_names:
            return failed(f"Error: tool `{call['name']}` is not available to this agent.")
        return await execute(ctx, call["name"], call["arguments"])

    def _owner(self, spec: TurnSpec) -> Owner:
        return Owner(spec.organization_id, spec.agent_id, spec.run_id, spec.group_id)
