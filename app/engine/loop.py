"""The agent loop, written once: load context, call the model, persist the step, decide.

It never holds a database session across a model call: each step reads its context in one
short transaction, calls the model with none open, then writes the step in another.
"""

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.agents.prompt import compile_system
from app.agents.repository import AgentRepository
from app.blocks.memory import DirectMemory, MemoryView, StagedMemory
from app.blocks.repository import BlockRepository
from app.engine import answer, compaction, model_call, offer, rules
from app.engine import context as ctxmod
from app.engine.compactor import CompactionConfig, Compactor, Overflow
from app.engine.events import (
    Answer,
    ApprovalRequested,
    Committed,
    EventSink,
    StepCommitted,
    TurnEnded,
    TurnError,
)
from app.engine.results import TurnOutcome, UsageTotals
from app.engine.solver import Solver, ToolHistory
from app.kit import tracing
from app.kit.db import Database
from app.kit.ids import Prefix, new_id
from app.messages.chat import summary_chat
from app.messages.factory import Owner, new_message, tool_result
from app.messages.models import Message
from app.messages.recent import ChatRow
from app.messages.repository import MessageRepository
from app.messages.thread import Thread, ThreadWindows
from app.providers.base import LLMProvider, LLMRequest, LLMResponse, ProviderError
from app.providers.registry import ModelInfo, ProviderRegistry
from app.runs.models import Step
from app.runs.repository import RunRepository
from app.runs.states import StopReason
from app.tools.agent_state import external_context
from app.tools.repository import load_toolset
from app.tools.run import ToolContext, ToolResult, ToolRunners, failed
from app.tools.toolset import ExternalContext, Toolset

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
    # Stream the model's answer, emitting its pieces as they come, before the step commits.
    stream_tokens: bool = False
    # A model handle to run this turn on instead of the agent's (``override_model``).
    model: str | None = None
    # The turn resumes a paused one: the approved calls ran before its first step.
    resumes: bool = False
    # Set the agent's last-run columns (stop reason, completion, duration) with the turn's
    # last step, in the statement that numbers its messages (a primary's turn).
    record_last_run: bool = False
    # Show Letta's event_message and summary_message when the window is compacted.
    include_compaction_messages: bool = False
    # The conversation the turn runs in; None: the agent's main thread.
    conversation_id: str | None = None


@dataclass(slots=True)
class _Turn:
    """What one turn accumulates across its steps."""

    started_ns: int
    finish: "FinishHook"
    cancel: asyncio.Event
    sink: EventSink
    totals: UsageTotals = field(default_factory=UsageTotals)
    ttft: int | None = None
    produced: tuple[int, str] | None = None  # last stored (seq, message id) of the turn
    sleeptime: bool = False  # the agent had sleeptime enabled when its last step began
    history: ToolHistory = field(default_factory=ToolHistory)  # what the rules read
    offered: frozenset[str] = frozenset()  # the tools the current step offers
    steps: "tracing.Successive" = tracing.NOOP  # a span per step, when tracing
    prefilled: dict[str, dict[str, Any]] = field(default_factory=dict)  # rules' fixed arguments
    recorded: bool = False  # the last step set the agent's last-run columns
    compactions: list[compaction.Record] = field(default_factory=list)
    compaction_wakes_sleeptime: bool = False
    # A compaction running alongside the step's model call (``Engine._alongside``).
    compacting: "asyncio.Task[compaction.Record] | None" = None

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
            last_run_recorded=self.recorded,
            compactions=[c.as_metadata() for c in self.compactions] or None,
            sleeptime_forced=self.compaction_wakes_sleeptime and bool(self.compactions),
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
    thread: Thread  # the thread's window state as the step was prepared
    window: ctxmod.Window
    request: LLMRequest
    info: ModelInfo
    step_id: str
    pausing: frozenset[str]  # tools whose calls wait for an approval or the client
    toolset: Toolset  # the agent's tools as the step was prepared
    external: ExternalContext  # what tools run outside the database get


Prepared = _Step | ContextOverflowError | Overflow


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
        tools: ToolRunners | None = None,
        compaction: CompactionConfig | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.providers = providers
        self.max_context_messages = max_context_messages
        # A window this full (by count) is compacted, so that messages leave a thread's context
        # through a summary, not by falling past the read's cap; the tenth left over covers
        # what one step adds.
        self.compact_at_messages = max(2, max_context_messages - max_context_messages // 10)
        self.tools = tools or ToolRunners()
        self.compactor = Compactor(db, registry, self._provider, compaction or CompactionConfig())

    def _provider(self, info: ModelInfo) -> LLMProvider:
        return self.providers(info)  # looked up per call: tests replace ``providers``

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
        turn = _Turn(started_ns, finish, cancel or asyncio.Event(), sink)
        turn.compaction_wakes_sleeptime = self.compactor.config.triggers_sleeptime
        try:
            with tracing.successive("step") as turn.steps:
                return await self._steps(spec, turn, first)
        except BaseException:
            # The transaction that failed took its events with it: no consumer may act on
            # them (a stored reply, an end) now.
            sink.rolled_back()
            if turn.compacting is not None:
                turn.compacting.cancel()
            raise
        finally:
            await self._settle(turn)

    async def _steps(self, spec: TurnSpec, turn: "_Turn", first: Prepared | None) -> TurnOutcome:
        for index in range(spec.max_steps):
            turn.steps.next(step=index, run_id=spec.run_id, agent_id=spec.agent_id)
            if turn.cancel.is_set():
                return await self._end(turn, StopReason.cancelled, None)
            step = await self._context(spec, turn, first if index == 0 else None)
            if isinstance(step, _Step):
                turn.sleeptime = step.agent.enable_sleeptime
                if index == 0 and spec.resumes:
                    turn.history = await self._resumed(spec, step.agent)
                step = self._offer(spec, step, turn)
            if isinstance(step, ContextOverflowError):
                error = {"type": "context_window_overflow", "message": step.message}
                return await self._end(turn, step.stop_reason, error)
            called = time.perf_counter_ns()
            message_id = new_id(Prefix.message)
            relay = self._relay(spec, turn, step, message_id)
            provider = self.providers(step.info)
            try:
                response = await model_call.call_model(provider, step.request, relay, turn.cancel)
            except model_call.TurnCancelledError:
                return await self._end(turn, StopReason.cancelled, None)
            except ProviderError as exc:
                took = time.perf_counter_ns() - called
                return await self._provider_failed(spec, turn, step, exc, took, relay)
            turn.ttft = turn.ttft or time.perf_counter_ns() - turn.started_ns
            turn.totals.add(response.usage)
            over_budget = spec.max_total_tokens is not None and (
                turn.totals.prompt_tokens + turn.totals.completion_tokens >= spec.max_total_tokens
            )
            last = index == spec.max_steps - 1 or over_budget
            took = time.perf_counter_ns() - called
            await self._settle(turn)  # its summary goes before the step's messages
            ended = await self._commit(spec, step, response, took, turn, last, message_id)
            if ended is not None:
                return ended
        raise AssertionError("unreachable: the last step always decides")

    def _relay(
        self, spec: TurnSpec, turn: "_Turn", step: _Step, message_id: str
    ) -> model_call.AnswerRelay | None:
        """What emits the model's answer as it comes, when the turn asked for it."""
        if not spec.stream_tokens:
            return None
        streamed = Answer(message_id, step.step_id, step.agent.agent_type, step.pausing)
        return model_call.AnswerRelay(turn.sink, streamed)

    async def _provider_failed(
        self,
        spec: TurnSpec,
        turn: "_Turn",
        step: _Step,
        exc: ProviderError,
        took: int,
        relay: model_call.AnswerRelay | None,
    ) -> TurnOutcome:
        """End the turn on a failed model call, with nothing of the step stored."""
        message = model_call.failure_message(exc, relay)
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
        if stop_reason == StopReason.cancelled and turn.compacting is not None:
            turn.compacting.cancel()  # a cancelled turn stores nothing more
        await self._settle(turn)  # its record goes with the run's end
        outcome = turn.outcome(stop_reason, error)
        if error is not None:
            await turn.sink.emit(TurnError(error["type"], error["message"]))
        ended = TurnEnded(outcome)
        async with self.db.session() as session:
            if failed_step is not None:
                await RunRepository(session, failed_step.organization_id).insert_step(failed_step)
            await turn.finish(session, outcome)
            await turn.sink.committing(session, ended)
        await turn.sink.emit(ended)
        return outcome

    async def prepare(
        self,
        session: AsyncSession,
        spec: TurnSpec,
        agent: Agent | None = None,
        thread: Thread | None = None,
        *,
        evict: bool = False,
    ) -> Prepared:
        """The next step's context, read with the caller's session (and agent and thread,
        if loaded). A window that overflows is an ``Overflow`` to compact, unless compaction
        is off or ``evict`` (then its oldest messages leave it)."""
        agent = agent or await AgentRepository(session, spec.organization_id).read(spec.agent_id)
        if agent is None:
            return ContextOverflowError(StopReason.error, f"agent {spec.agent_id} no longer exists")
        thread = thread or await _thread(session, spec, agent)
        if thread is None:
            gone = f"conversation {spec.conversation_id} no longer exists"
            return ContextOverflowError(StopReason.error, gone)
        blocks: list[MemoryView] = list(
            await BlockRepository(session, spec.organization_id).of_agent(agent.id)
        )
        messages = MessageRepository(session, spec.organization_id)
        recent = await messages.in_context(
            agent.id, thread.context_start_seq, self.max_context_messages, thread.conversation_id
        )
        summary = None
        if thread.summary_message_id is not None:
            summary = await messages.summary_text(thread.summary_message_id)
        toolset = await load_toolset(session, spec.organization_id, agent.tool_names)
        if spec.staged is not None:
            blocks = spec.staged.overlay(blocks)
        evict = evict or not self.compactor.config.enabled
        return self._build(
            spec, thread.runs(agent), thread, blocks, recent, toolset, summary, evict
        )

    def _build(
        self,
        spec: TurnSpec,
        agent: Agent,
        thread: Thread,
        blocks: list[MemoryView],
        recent: list[ChatRow],
        toolset: Toolset,
        summary: str | None,
        evict: bool,
    ) -> Prepared:
        if spec.model:
            info = self.registry.resolve(spec.model, field="override_model")
        else:
            info = self.registry.resolve_stored(
                agent.model, context_window=agent.context_window_limit
            )
        system = compile_system(agent, blocks, max(thread.context_start_seq - 1, 0))
        response_format = ctxmod.response_format(agent)
        tools = ctxmod.tool_schemas(agent, toolset, spec.client_tools, response_format)
        budget = ctxmod.budget(agent, info.context_window, system, tools)
        if budget <= 0:
            return ContextOverflowError(
                StopReason.context_window_overflow_in_system_prompt,
                f"the system prompt and tools exceed the {info.context_window}-token window",
            )
        head = [{"role": "system", "content": system}]
        room = budget
        if summary is not None:
            head.append(summary_chat(summary))
            room -= ctxmod.estimate_tokens(head[-1]["content"])
        window = ctxmod.fit_window(recent, room)
        if window is not None and not evict:
            trigger = None
            if window.overflowed:
                trigger = compaction.OVERFLOW
            elif len(recent) >= self.compact_at_messages:
                trigger = compaction.MESSAGE_CAP
            if trigger is not None:
                # The whole prompt's estimate: everything but the answer's reserve and the room.
                used = (
                    info.context_window
                    - ctxmod.reserve(agent)
                    - room
                    + compaction.tokens_of(recent)
                )
                return Overflow(
                    agent, thread, recent, info, budget, summary, used, trigger, blocks, toolset
                )
        if window is None:
            return ContextOverflowError(
                StopReason.error, "the newest message alone exceeds the window"
            )
        chat = [*head, *window.chat]
        request = ctxmod.model_request(agent, info.model, chat, tools, response_format)
        pausing = frozenset(rules.rule_names(agent, "requires_approval") | set(spec.client_tools))
        external = external_context(agent, blocks, spec.run_id)
        step_id = new_id(Prefix.step)
        return _Step(agent, thread, window, request, info, step_id, pausing, toolset, external)

    async def _context(
        self, spec: TurnSpec, turn: "_Turn", first: Prepared | None
    ) -> _Step | ContextOverflowError:
        """The step's context: ``first`` (read with the turn's acceptance) or read now,
        compacted first when it overflows."""
        step = first
        if step is None:
            async with self.db.session(write=False) as session:
                step = await self.prepare(session, spec)
        if isinstance(step, Overflow):
            alongside = self._compacting(spec, turn, step)
            return alongside or await self._compacted(spec, turn, step)
        return step

    def _compacting(self, spec: TurnSpec, turn: "_Turn", overflow: Overflow) -> _Step | None:
        """The step on its whole window, with the compaction started alongside its model
        call, when the window is full by count but fits the model (``MESSAGE_CAP``) and
        nothing of the compaction is shown (no event of it has a place among the step's):
        the summary (a model call of its own) is written while the step's is made, and
        stored before the step is (``_settle``); later steps read the window it leaves.
        None when the compaction must come first."""
        blocks, toolset = overflow.blocks, overflow.toolset
        if (
            overflow.trigger != compaction.MESSAGE_CAP
            or spec.include_compaction_messages
            or spec.stream_tokens
            or blocks is None
            or toolset is None
        ):
            return None
        thread, previous = overflow.thread, overflow.previous
        step = self._build(
            spec, overflow.agent, thread, blocks, overflow.rows, toolset, previous, True
        )
        if not isinstance(step, _Step):
            return None
        compacting = self.compactor.compact(overflow, self._owner(spec), turn.sink, announce=False)
        turn.compacting = asyncio.create_task(compacting)
        return step

    async def _settle(self, turn: "_Turn") -> None:
        """Wait for the compaction running alongside the step, and keep its record."""
        task, turn.compacting = turn.compacting, None
        if task is None:
            return
        try:
            turn.compactions.append(await task)
        except asyncio.CancelledError:
            if not task.cancelled():
                raise  # the turn itself is cancelled

    async def _compacted(
        self, spec: TurnSpec, turn: "_Turn", overflow: Overflow
    ) -> _Step | ContextOverflowError:
        """Compact the step's window (or, failing that, leave it to eviction) and build the
        step's context again: a step compacts at most once. After a summary the window is
        the one the compaction left, with the memory and tools the step read; after a
        fallback, everything is read again and the window evicts what does not fit."""
        announce = spec.include_compaction_messages
        record = await self.compactor.compact(
            overflow, self._owner(spec), turn.sink, announce=announce
        )
        turn.compactions.append(record)
        if record.kept and overflow.blocks is not None and overflow.toolset is not None:
            thread = replace(
                overflow.thread,
                context_start_seq=record.kept[0].seq,
                summary_message_id=record.summary_message_id,
            )
            prepared: Prepared = self._build(
                spec,
                overflow.agent,
                thread,
                overflow.blocks,
                record.kept,
                overflow.toolset,
                record.summary,
                True,
            )
        else:
            async with self.db.session(write=False) as session:
                prepared = await self.prepare(session, spec, evict=True)
        if isinstance(prepared, Overflow):  # an evicting window does not: never reached
            return ContextOverflowError(StopReason.error, "the window overflows after compaction")
        return prepared

    async def _resumed(self, spec: TurnSpec, agent: Agent) -> ToolHistory:
        """The calls approved when the turn resumed, which ran before its first step, for
        the agent's rules that look back (read only for those)."""
        if not Solver(agent.tool_rules or []).reads_history:
            return ToolHistory()
        async with self.db.session(write=False) as session:
            messages = MessageRepository(session, spec.organization_id)
            inputs = await messages.for_run(spec.run_id)
            paused = await messages.latest(
                agent.id, role="assistant", conversation_id=spec.conversation_id
            )
        return offer.resumed(agent, paused, inputs)

    def _offer(self, spec: TurnSpec, step: _Step, turn: "_Turn") -> _Step:
        """The step as the tool rules shape it, given what the turn has run so far: only
        the tools allowed now are offered, and only their calls may pause."""
        solver = Solver(step.agent.tool_rules or [])
        shaped = offer.offer(step.agent, step.request, spec.client_tools, solver, turn.history)
        turn.offered, turn.prefilled = shaped.offered, shaped.prefilled
        return replace(step, request=shaped.request, pausing=step.pausing & shaped.offered)

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
    ) -> TurnOutcome | None:
        """Persist the step: run its server tools, store its messages and step row, and decide
        (None: go on). The agent's configuration is the one the step was prepared with."""
        agent = step.agent
        row = self._step_row(spec, step, duration_ns)
        calls = answer.tool_calls(response, step.pausing)
        made = new_message(
            self._owner(spec),
            "assistant",
            step_id=row.id,
            content=answer.content(response),
            tool_calls=calls or None,
        )
        made.id, made.text = message_id, answer.searchable(response)
        solver = Solver(agent.tool_rules or [])
        screened = offer.screen(
            agent, solver, turn.offered, turn.prefilled, calls, turn.history, step.toolset
        )
        turn.history.names += [str(c["name"]) for c in calls if c["id"] in screened.ran]
        decision = rules.decide(
            agent, calls, response, solver, turn.history, screened.ran, last=last
        )
        if screened.misfit:  # a rule's own arguments do not fit its tool: as Letta, stop
            decision = rules.Decision(StopReason.invalid_tool_call)
        stop = decision.stop
        final = StopReason.max_steps if stop is None and last else stop
        runnable = [c for c in calls if c["id"] not in screened.refused]
        ran = await self._run_external(step, runnable)  # before the transaction, all at once
        async with self.db.session() as session:
            results = await self._run_tools(session, spec, step, runnable, row.id, ran)
            stored = [made, *offer.results(self._owner(spec), calls, results, screened, row.id)]
            stored += offer.nudge(self._owner(spec), decision, row.id)
            turn.history.last_output = offer.last_output(stored, screened.ran, turn.history)
            events: list[Committed] = []
            if await self._store(
                session, spec, step, stored, stop, self._last_run(spec, turn, final)
            ):
                answer.fill_usage(row, response, stop)
                await RunRepository(session, spec.organization_id).insert_step(row)
                stop = final
                turn.recorded = spec.record_last_run and final is not None
                usage, streamed = response.usage, spec.stream_tokens
                events.append(StepCommitted(row.id, agent.agent_type, stored, usage, streamed))
                turn.produced = (stored[-1].seq, stored[-1].id)
                outcome = None if stop is None else turn.outcome(stop, rules.stop_error(stop))
            else:
                error = {"type": "internal_error", "message": "the agent was deleted mid-turn"}
                outcome = turn.outcome(StopReason.error, error)
            if outcome is not None:
                await turn.finish(session, outcome)
                events.append(TurnEnded(outcome))
            await turn.sink.committing(session, *events)
        await self._committed(turn, events, made)
        return outcome

    async def _store(
        self,
        session: AsyncSession,
        spec: TurnSpec,
        step: _Step,
        stored: list[Message],
        stop: StopReason | None,
        last_run: dict[str, Any],
    ) -> bool:
        """Number and add the step's messages, moving the thread's columns the step changes
        (and the agent's ``last_run``) in the same statement; False when the agent is gone.
        A conversation's columns are on its own row: one more statement, only when they
        change."""
        agent, thread, made = step.agent, step.thread, stored[0]
        thread_values = answer.agent_changes(
            context_start=(thread.context_start_seq, step.window.start_seq),
            stop=stop,
            message_id=made.id,
            calls=made.tool_calls or [],
            run_id=spec.run_id,
        )
        repository = MessageRepository(session, spec.organization_id)
        if thread.conversation_id is None:
            return await repository.append(agent.id, stored, **thread_values, **last_run)
        if not await repository.append(agent.id, stored, **last_run):
            return False
        await ThreadWindows(session, spec.organization_id).save(
            thread.conversation_id, thread_values
        )
        return True

    def _last_run(self, spec: TurnSpec, turn: "_Turn", final: StopReason | None) -> dict[str, Any]:
        """The agent's last-run columns, when this step ends a turn that records them."""
        if not spec.record_last_run or final is None:
            return {}
        return answer.last_run(final, time.perf_counter_ns() - turn.started_ns)

    async def _committed(self, turn: "_Turn", events: list[Committed], made: Message) -> None:
        """Tell the sink what the step's transaction stored, now that it has committed."""
        for event in events:
            if isinstance(event, TurnEnded) and (error := event.outcome.error) is not None:
                await turn.sink.emit(TurnError(error["type"], error["message"]))
            await turn.sink.emit(event)
            paused = [c for c in made.tool_calls or [] if c.get("requires_approval")]
            if isinstance(event, StepCommitted) and paused:
                await turn.sink.emit(ApprovalRequested(made.id, paused))

    async def _run_external(
        self, step: _Step, calls: list[dict[str, Any]]
    ) -> dict[int, ToolResult]:
        """The step's calls of external tools, run concurrently with no transaction open:
        their results by the call's position."""
        todo = [
            (index, tool, str(call["arguments"]))
            for index, call in enumerate(calls)
            if not call.get("requires_approval")
            and (tool := step.toolset.get(call["name"])) is not None
            and tool.external
        ]
        if not todo:
            return {}
        results = await self.tools.run_external(step.external, [(t, a) for _, t, a in todo])
        return {index: result for (index, _, _), result in zip(todo, results, strict=True)}

    async def _run_tools(
        self,
        session: AsyncSession,
        spec: TurnSpec,
        step: _Step,
        calls: list[dict[str, Any]],
        step_id: str,
        ran: dict[int, ToolResult],
    ) -> list[Message]:
        """The results of the step's server-side calls, in call order: the external ones
        already run, the session ones run now in the step's transaction."""
        agent = step.agent
        memory = spec.staged or DirectMemory(session, spec.organization_id, agent.id, spec.run_id)
        tctx = ToolContext(session, spec.organization_id, agent.id, spec.run_id, memory)
        results: list[Message] = []
        for index, call in enumerate(calls):
            if call.get("requires_approval"):
                continue
            result = ran.get(index) or await self._run_tool(tctx, step.toolset, call)
            if result.write is not None and spec.staged is not None:
                spec.staged.defer(result.write)
            elif result.write is not None:
                await result.write(session)  # lands with the step, like a block edit
            owner, call_id = self._owner(spec), str(call["id"])
            returned = tool_result(
                owner,
                call_id,
                result.status,
                result.text,
                step_id=step_id,
                stdout=result.stdout,
                stderr=result.stderr,
            )
            returned.name = answer.result_name(str(call["name"]))  # as Letta does
            results.append(returned)
        return results

    async def _run_tool(
        self, ctx: ToolContext, toolset: Toolset, call: dict[str, Any]
    ) -> ToolResult:
        tool = toolset.get(call["name"])
        if tool is None:
            return failed(f"Error: tool `{call['name']}` is not available to this agent.")
        return await self.tools.session(ctx, tool, call["arguments"])

    def _owner(self, spec: TurnSpec) -> Owner:
        return Owner(
            spec.organization_id, spec.agent_id, spec.run_id, spec.group_id, spec.conversation_id
        )


async def _thread(session: AsyncSession, spec: TurnSpec, agent: Agent) -> Thread | None:
    """The thread a step runs in: the agent's main one (its own columns, no read), or the
    turn's conversation (one read; None if it was deleted)."""
    if spec.conversation_id is None:
        return Thread.main(agent)
    return await ThreadWindows(session, spec.organization_id).conversation(spec.conversation_id)
