"""A turn, end to end: admission, durable acceptance, the loop, and the finish.

The input messages and the run row are committed together before any model call; the run's
terminal state, usage and timing are committed together at the end.
"""

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Coroutine, Sequence
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.agents.repository import AgentRepository
from app.auth.deps import Actor
from app.config import Settings
from app.engine.events import TurnEnded
from app.engine.loop import Engine, Prepared, TurnSpec
from app.engine.results import TurnOutcome, UsageTotals
from app.groups.repository import GroupRepository
from app.kit.db import Database, utcnow
from app.kit.errors import BadRequest, Conflict, NotFound
from app.kit.ids import Prefix, new_id
from app.messages.convert import shows_replies, to_letta_many
from app.messages.factory import Owner, new_message, sent_message, tool_result
from app.messages.models import Message
from app.messages.repository import MessageRepository
from app.messages.schemas import ApprovalCreate, LettaRequest, LettaResponse, MessageCreate
from app.runs import lifecycle
from app.runs.admission import AgentBusy, TurnGate
from app.runs.lifecycle import LeaseLostError, RunKind
from app.runs.models import Run
from app.runs.repository import RunRepository
from app.runs.states import ACTIVE, StopReason
from app.streaming.closing import usage_statistics
from app.streaming.hub import Hub
from app.streaming.recorder import RunRecorder
from app.streaming.run_stream import RunStream
from app.turns import approvals
from app.turns.admission import check_startable, hold_turn
from app.turns.callbacks import RunCallbacks
from app.turns.finish import end_run, finish_turn, turn_failure
from app.worker.control import RunControl

if TYPE_CHECKING:
    from app.runtime import Services

log = structlog.get_logger("app.turns")

INPUT_TYPES = frozenset({"user_message", "approval_response_message", "system_message"})


@dataclass(frozen=True, slots=True)
class TurnDeps:
    db: Database
    engine: Engine
    gate: TurnGate
    settings: Settings
    control: RunControl
    hub: Hub
    callbacks: RunCallbacks


@dataclass(frozen=True, slots=True)
class Intake:
    """How a request enters: as a foreground turn or a queued (async) one."""

    kind: RunKind = RunKind.foreground
    group_id: str | None = None
    key: str | None = None
    digest: str | None = None
    run_id: str | None = None  # chosen before acceptance when a stream announces it early
    callback_url: str | None = None  # POSTed the outcome when the run ends (async runs)


@dataclass(frozen=True, slots=True)
class StreamPlan:
    run_id: str
    begin: Callable[[], Coroutine[Any, Any, None]] | None  # None: the run exists; follow it


@dataclass(frozen=True, slots=True)
class _Accepted:
    run: Run
    spec: TurnSpec
    first: Prepared | None  # the first step's context, read in the acceptance transaction
    resumed: list[dict[str, Any]]  # tool returns produced by resolving a pending approval


def request_hash(agent_id: str, body: LettaRequest) -> str:
    canonical = json.dumps([agent_id, body.model_dump(mode="json")], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


def _split(body: LettaRequest) -> tuple[ApprovalCreate | None, list[MessageCreate]]:
    inputs = body.inputs()
    approval = None
    if not isinstance(inputs[0], MessageCreate):
        approval = approvals.as_approval(inputs[0])
        inputs = inputs[1:]
    rest = [m for m in inputs if isinstance(m, MessageCreate)]
    if len(rest) != len(inputs):
        raise BadRequest("messages: an approval or tool_return item must come first")
    return approval, rest


class TurnService:
    def __init__(self, deps: TurnDeps) -> None:
        self.deps = deps
        self._streams: set[asyncio.Task[None]] = set()

    async def open_stream(
        self,
        actor: Actor,
        agent_id: str,
        body: LettaRequest,
        *,
        group_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> StreamPlan:
        """What a streamed turn needs before its response starts: the run to follow and, for
        a new turn, how to begin it. Errors a client can fix in its request (an unknown
        agent, a key reused for another body) are raised here, as HTTP errors; the turn itself
        begins once the stream is open, so the first byte does not wait for it."""
        body = body.model_copy(update={"streaming": True})
        digest = request_hash(agent_id, body) if idempotency_key else None
        if body.background:
            run = await self.send_async(actor, agent_id, body, idempotency_key=idempotency_key)
            return StreamPlan(run.id, None)
        if idempotency_key and digest:
            existing = await self._by_key(actor, idempotency_key, digest)
            if existing is not None:
                return StreamPlan(existing.id, None)  # re-attach to the same run
        self.deps.engine.check_model(body.override_model)
        approval, _ = _split(body)
        stack = await self._admit_stream(actor, agent_id, body, approving=approval is not None)
        run_id = new_id(Prefix.run)
        intake = Intake(RunKind.foreground, group_id, idempotency_key, digest, run_id)

        async def begin() -> None:
            await self._begin(stack, actor, agent_id, body, intake)

        return StreamPlan(run_id, begin)

    async def _admit_stream(
        self, actor: Actor, agent_id: str, body: LettaRequest, *, approving: bool
    ) -> AsyncExitStack:
        """The agent's turn held, once nothing known stops the turn from starting (see
        ``app.turns.admission``); the caller's ``begin`` releases it."""
        wait = body.multitask_strategy == "enqueue"
        stack = AsyncExitStack()
        try:
            left = await hold_turn(
                stack,
                self.deps.gate,
                actor,
                agent_id,
                wait=wait,
                wait_seconds=self.deps.settings.turn_wait_seconds,
            )
            await check_startable(
                self.deps.db,
                actor,
                agent_id,
                approving=approving,
                wait_seconds=left if wait else None,
                until_turn_ends=self._until_turn_ends,
            )
        except BaseException:
            await stack.aclose()
            raise
        return stack

    def begin(self, plan: StreamPlan) -> "asyncio.Task[None] | None":
        """Start a planned stream's turn on a task tracked here (and awaited at shutdown)."""
        if plan.begin is None:
            return None
        task = asyncio.create_task(plan.begin(), name=f"begin:{plan.run_id}")
        self._streams.add(task)
        task.add_done_callback(self._begun)
        return task

    def _begun(self, task: "asyncio.Task[None]") -> None:
        self._streams.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            # Reported to the stream's reader; logged in case the reader has already gone.
            log.info("turn.refused", error=str(error))

    async def _begin(
        self,
        stack: AsyncExitStack,
        actor: Actor,
        agent_id: str,
        body: LettaRequest,
        intake: Intake,
    ) -> None:
        """Accept the streamed turn, its gate already held on ``stack``, and run it in a task
        of its own, tracked here. The turn runs to its end even if the client goes away."""
        wait = body.multitask_strategy == "enqueue"
        try:
            started = time.perf_counter_ns()
            accepted = await self._admit(actor, agent_id, body, intake, wait=wait)
        except BaseException:
            await stack.aclose()
            raise
        if isinstance(accepted, LettaResponse):
            await stack.aclose()
            raise BadRequest("this approval was already applied; follow its run instead")
        recorder = RunRecorder(self.deps.hub, accepted.run.id, actor.organization_id)
        stream = RunStream(self.deps.db, recorder, use_assistant_message=body.use_assistant_message)
        task = asyncio.create_task(self._stream(stack, accepted, started, stream))
        self._streams.add(task)
        task.add_done_callback(self._streams.discard)

    async def _stream(
        self, stack: AsyncExitStack, accepted: "_Accepted", started: int, stream: RunStream
    ) -> None:
        async with stack:
            if accepted.resumed:
                async with self.deps.db.session() as session:
                    await stream.recorder.write(session, list(accepted.resumed))
                await stream.recorder.publish()
            try:
                await self.execute(accepted.run, accepted.spec, stream, started, accepted.first)
            except Exception:
                # ``execute`` has already ended the run as failed and closed its stream.
                log.exception("turn.stream_failed", run_id=accepted.run.id)

    async def drain(self) -> None:
        """Let streamed turns in flight finish (at shutdown)."""
        if self._streams:
            await asyncio.gather(*self._streams, return_exceptions=True)

    async def _by_key(self, actor: Actor, key: str, digest: str) -> Run | None:
        async with self.deps.db.session(write=False) as session:
            run = await RunRepository(session, actor.organization_id).by_idempotency_key(key)
        if run is not None and run.request_hash != digest:
            raise Conflict("Idempotency-Key was already used with a different request")
        return run

    async def send(
        self,
        actor: Actor,
        agent_id: str,
        body: LettaRequest,
        *,
        group_id: str | None = None,
        idempotency_key: str | None = None,
    ) -> LettaResponse:
        digest = request_hash(agent_id, body) if idempotency_key else None
        if idempotency_key and digest:
            replay = await self._replay(actor, agent_id, body, idempotency_key, digest)
            if replay is not None:
                return replay
        wait = body.multitask_strategy == "enqueue"
        # Keyed by organization too: another organization naming this id must not queue
        # behind (or learn anything about) a turn that is not its own.
        async with self.deps.gate.turn(
            f"{actor.organization_id}/{agent_id}",
            wait=wait,
            wait_seconds=self.deps.settings.turn_wait_seconds,
        ):
            if idempotency_key and digest:
                replay = await self._replay(actor, agent_id, body, idempotency_key, digest)
                if replay is not None:
                    return replay
            started = time.perf_counter_ns()
            intake = Intake(RunKind.foreground, group_id, idempotency_key, digest)
            accepted = await self._admit(actor, agent_id, body, intake, wait=wait)
            if isinstance(accepted, LettaResponse):
                return accepted
            return await self._run(actor, body, accepted, started)

    async def send_async(
        self,
        actor: Actor,
        agent_id: str,
        body: LettaRequest,
        *,
        idempotency_key: str | None,
        callback_url: str | None = None,
    ) -> Run:
        """Accept a turn to run in the background; its run is returned at once."""
        digest = request_hash(agent_id, body) if idempotency_key else None
        if idempotency_key and digest:
            async with self.deps.db.session(write=False) as session:
                existing = await RunRepository(session, actor.organization_id).by_idempotency_key(
                    idempotency_key
                )
            if existing is not None:
                if existing.request_hash != digest:
                    raise Conflict("Idempotency-Key was already used with a different request")
                return existing
        intake = Intake(RunKind.async_, None, idempotency_key, digest, callback_url=callback_url)
        accepted = await self._admit(
            actor, agent_id, body, intake, wait=body.multitask_strategy == "enqueue"
        )
        if isinstance(accepted, LettaResponse):
            raise BadRequest(approvals.NOTHING_PENDING)
        self.deps.control.wakeup.wake()
        return accepted.run

    async def execute_queued(self, run: Run) -> None:
        """The dispatcher's entry for an ``async`` run it claimed. Its completion callback
        goes out on a task of its own: the dispatcher's slot is free as soon as the run ends."""
        body = LettaRequest.model_validate(run.request or {})
        spec = _spec(Actor(organization_id=run.organization_id), run, body)
        async with self.deps.db.session(write=False) as session:
            recorder = await RunRecorder.continuing(
                session, self.deps.hub, run.id, run.organization_id
            )
        stream = RunStream(self.deps.db, recorder, use_assistant_message=body.use_assistant_message)
        try:
            await self.execute(run, spec, stream, time.perf_counter_ns(), None)
        finally:
            self.deps.callbacks.run_ended(run)

    async def group_manager(self, actor: Actor, group_id: str) -> str:
        async with self.deps.db.session(write=False) as session:
            group = await GroupRepository(session, actor.organization_id).get(group_id)
        if group is None:
            raise NotFound(f"Group {group_id} not found")
        if group.manager_agent_id is None:
            raise BadRequest(f"Group {group_id} has no manager agent to answer")
        return group.manager_agent_id

    async def _admit(
        self, actor: Actor, agent_id: str, body: LettaRequest, intake: Intake, *, wait: bool
    ) -> _Accepted | LettaResponse:
        """Accept the turn; while another turn of the agent is active (in any process), wait
        for it to end, up to the configured bound."""
        deadline = time.monotonic() + self.deps.settings.turn_wait_seconds
        while True:
            try:
                return await self._accept(actor, agent_id, body, intake)
            except AgentBusy:
                remaining = deadline - time.monotonic()
                if not wait or remaining <= 0:
                    raise
                await self._until_turn_ends(actor, agent_id, remaining)
            if intake.key and intake.digest:
                replay = await self._replay(actor, agent_id, body, intake.key, intake.digest)
                if replay is not None:
                    return replay

    async def _until_turn_ends(self, actor: Actor, agent_id: str, seconds: float) -> None:
        async with self.deps.db.session(write=False) as session:
            active = await lifecycle.active_turns(session, actor.organization_id, agent_id)
        if not active:
            return
        run_id = active[0].id
        ended = self.deps.control.watch(run_id)
        try:
            async with self.deps.db.session(write=False) as session:
                run = await RunRepository(session, actor.organization_id).get(run_id)
            if run is not None and run.status in ACTIVE:
                with suppress(TimeoutError):
                    await asyncio.wait_for(ended.wait(), seconds)
        finally:
            self.deps.control.unwatch(run_id, ended)

    async def _replay(
        self, actor: Actor, agent_id: str, body: LettaRequest, key: str, digest: str
    ) -> LettaResponse | None:
        async with self.deps.db.session(write=False) as session:
            run = await RunRepository(session, actor.organization_id).by_idempotency_key(key)
            if run is None:
                return None
            if run.request_hash != digest:
                raise Conflict("Idempotency-Key was already used with a different request")
            if run.status in ACTIVE:
                return None  # the caller waits on the agent's turn, then replays the result
            return await response_of(session, actor, run, body.include_return_message_types)

    async def _accept(
        self, actor: Actor, agent_id: str, body: LettaRequest, intake: Intake
    ) -> _Accepted | LettaResponse:
        approval, inputs = _split(body)
        self.deps.engine.check_model(body.override_model)
        try:
            async with self.deps.db.session() as session:
                agents = AgentRepository(session, actor.organization_id)
                agent = await agents.get(agent_id, for_update=True)
                if agent is None:
                    raise NotFound(f"Agent {agent_id} not found")
                if approval is None and agent.pending_approval:
                    raise approvals.pending_error(agent)
                if approval is not None and not agent.pending_approval:
                    return await self._retried_approval(session, actor, agent, approval, body)
                run = _new_run(
                    actor,
                    agent,
                    body,
                    intake,
                    self.deps.control.owner,
                    self.deps.settings.lease_seconds,
                )
                await lifecycle.accept(session, run)
                stored, resumed = await self._inputs(session, agent, run, approval, inputs)
                repo = MessageRepository(session, actor.organization_id)
                if not await repo.append(agent.id, stored):
                    raise NotFound(f"Agent {agent_id} not found")
                await session.flush()
                spec = _spec(actor, run, body)
                if lifecycle.policy(intake.kind).queued:
                    return _Accepted(run, spec, None, [])
                # A streamed turn answers its first byte right after acceptance; its first
                # context is read by the turn itself.
                first_step = None
                if not body.streaming:
                    first_step = await self.deps.engine.prepare(session, spec, agent)
                resumed_letta = to_letta_many(resumed, agent.agent_type)
                return _Accepted(run, spec, first_step, resumed_letta)
        except IntegrityError as exc:
            raise AgentBusy(
                f"Agent {agent_id} is busy with another turn", agent_id=agent_id
            ) from exc

    async def _retried_approval(
        self,
        session: AsyncSession,
        actor: Actor,
        agent: Agent,
        approval: ApprovalCreate,
        body: LettaRequest,
    ) -> LettaResponse:
        """An approval that was already applied (a client retry) gets the first answer again."""
        last = await MessageRepository(session, actor.organization_id).latest(
            agent.id, role="approval"
        )
        if (
            last is None
            or not approvals.same_decisions(last.approvals, approval)
            or last.run_id is None
        ):
            raise BadRequest(approvals.NOTHING_PENDING)
        run = await RunRepository(session, actor.organization_id).get(last.run_id)
        if run is None or run.status in ACTIVE:
            raise BadRequest(approvals.NOTHING_PENDING)
        return await response_of(session, actor, run, body.include_return_message_types)

    async def _inputs(
        self,
        session: AsyncSession,
        agent: Agent,
        run: Run,
        approval: ApprovalCreate | None,
        inputs: list[MessageCreate],
    ) -> tuple[list[Message], list[Message]]:
        stored: list[Message] = []
        resumed: list[Message] = []
        if approval is not None:
            approvals.check_ids(
                list((agent.pending_approval or {}).get("tool_call_ids", [])), approval
            )
            owner = Owner.of(run)
            payload = approvals.approvals_payload(approval)
            stored.append(new_message(owner, "approval", approvals=payload, otid=approval.otid))
            for res in await approvals.resolve(session, agent, run.id, approval):
                resumed.append(
                    tool_result(owner, res.tool_call_id, res.result.status, res.result.text)
                )
            stored += resumed
            agent.pending_approval = None
        stored += [sent_message(Owner.of(run), item) for item in inputs]
        return stored, resumed

    async def _run(
        self, actor: Actor, body: LettaRequest, accepted: _Accepted, started: int
    ) -> LettaResponse:
        run = accepted.run
        recorder = RunRecorder(self.deps.hub, run.id, run.organization_id)
        stream = RunStream(self.deps.db, recorder, use_assistant_message=body.use_assistant_message)
        outcome = await self.execute(run, accepted.spec, stream, started, accepted.first)
        if (failure := turn_failure(run.id, outcome.error)) is not None:
            raise failure  # the run has ended and the agent is free: the client may go on
        wanted = body.include_return_message_types
        messages = [
            m
            for m in accepted.resumed + stream.messages
            if not wanted or m["message_type"] in wanted
        ]
        return LettaResponse(
            messages=messages,
            stop_reason={"message_type": "stop_reason", "stop_reason": outcome.stop_reason},
            usage=usage_statistics(outcome.usage, outcome.run_ids),
        )

    async def execute(
        self,
        run: Run,
        spec: TurnSpec,
        stream: RunStream,
        started: int,
        first: Prepared | None,
    ) -> TurnOutcome:
        """Run an accepted turn to its end, whatever happens: the run always ends, and its
        stream is kept (and closed) by ``stream``."""
        owner = self.deps.control.owner

        async def finish(session: AsyncSession, outcome: TurnOutcome) -> None:
            await finish_turn(session, run, outcome, time.perf_counter_ns() - started, owner)

        cancel = self.deps.control.register(run.id)
        try:
            outcome = await self.deps.engine.run(
                spec, stream, started_ns=started, first=first, finish=finish, cancel=cancel
            )
        except LeaseLostError:
            raise
        except BaseException:
            # A bug or a dropped database: the run must still end, then the error goes on.
            error = {"type": "internal_error", "message": "the turn failed unexpectedly"}
            failed = TurnEnded(TurnOutcome(StopReason.error, UsageTotals(), error))
            async with self.deps.db.session() as session:
                await end_run(session, run, failed.outcome, time.perf_counter_ns() - started, owner)
                await stream.committing(session, failed)
            await stream.emit(failed)
            raise
        finally:
            self.deps.control.unregister(run.id)
            self.deps.control.ended(run.id)
            self.deps.hub.close(run.id)
        if outcome.run_ids:
            self.deps.control.wakeup.wake()
        return outcome


def _spec(actor: Actor, run: Run, body: LettaRequest) -> TurnSpec:
    return TurnSpec(
        organization_id=actor.organization_id,
        agent_id=run.agent_id,
        run_id=run.id,
        max_steps=body.max_steps,
        group_id=run.group_id,
        stream_tokens=body.streaming and body.stream_tokens,
        model=body.override_model,
        client_tools={
            t.name: {
                "name": t.name,
                "description": t.description or "",
                "parameters": t.parameters or {"type": "object", "properties": {}},
            }
            for t in body.client_tools or []
        },
    )


def _new_run(
    actor: Actor, agent: Agent, body: LettaRequest, intake: Intake, owner: str, lease_seconds: float
) -> Run:
    now = utcnow()
    queued = lifecycle.policy(intake.kind).queued
    return Run(
        id=intake.run_id or new_id(Prefix.run),
        organization_id=actor.organization_id,
        agent_id=agent.id,
        group_id=intake.group_id,
        **lifecycle.opening(intake.kind, owner=owner, lease_seconds=lease_seconds, now=now),
        metadata_={"run_type": "send_message_async" if queued else "send_message"},
        request_config={
            "include_return_message_types": body.include_return_message_types,
            "use_assistant_message": body.use_assistant_message,
        },
        request=body.model_dump(mode="json") if queued else None,
        idempotency_key=intake.key,
        request_hash=intake.digest,
        callback_url=intake.callback_url,
        created_at=now,
        updated_at=now,
    )


async def response_of(
    session: AsyncSession, actor: Actor, run: Run, types: Sequence[str] | None
) -> LettaResponse:
    """The response a finished run gave, rebuilt from what it stored (its HTTP error, if
    it failed at the provider)."""
    if (failure := turn_failure(run.id, run.error)) is not None:
        raise failure
    agent = await AgentRepository(session, actor.organization_id).get(run.agent_id)
    agent_type = agent.agent_type if agent else "letta_v1_agent"
    stored = await MessageRepository(session, actor.organization_id).for_run(run.id)
    wanted = set(types) if types else None
    asked = (run.request_config or {}).get("use_assistant_message", True)
    replies = shows_replies(agent_type, asked is not False)
    messages = [
        m
        for m in to_letta_many(stored, agent_type, assistant_messages=replies)
        if m["message_type"] not in INPUT_TYPES and (wanted is None or m["message_type"] in wanted)
    ]
    usage = run.usage or usage_statistics()
    return LettaResponse(
        messages=messages,
        stop_reason={
            "message_type": "stop_reason",
            "stop_reason": run.stop_reason or StopReason.error,
        },
        usage=usage,
    )


def queued_turn_executor(services: "Services") -> lifecycle.Executor:
    """The executor of ``async`` runs (named in the run lifecycle's registry)."""
    return services.turns.execute_queued
