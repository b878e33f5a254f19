"""A turn, end to end: admission, durable acceptance, the loop, and the finish.

The input messages and the run row are committed together before any model call; the run's
terminal state, usage and timing are committed together at the end. This is the entry the
routes and the dispatcher use; the parts live in ``intake``, ``admission``, ``acceptance``
and ``execution``.
"""

import asyncio
import time
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING

from app.auth.deps import Actor
from app.groups.repository import GroupRepository
from app.kit.errors import BadRequest, NotFound
from app.kit.ids import Prefix, new_id
from app.messages.schemas import LettaRequest, LettaResponse
from app.runs import lifecycle
from app.runs.lifecycle import RunKind
from app.runs.models import Run
from app.turns import approvals
from app.turns.acceptance import split_inputs
from app.turns.admission import Admission
from app.turns.execution import Execution
from app.turns.intake import TurnIntake, request_hash
from app.turns.types import Intake, StreamPlan, TurnDeps

if TYPE_CHECKING:
    from app.runtime import Services


class TurnService:
    def __init__(self, deps: TurnDeps) -> None:
        self.deps = deps
        self.admission = Admission(deps)
        self.intake = TurnIntake(deps, self.admission)
        self.execution = Execution(deps)

    async def open_stream(
        self,
        actor: Actor,
        agent_id: str,
        body: LettaRequest,
        *,
        group_id: str | None = None,
        idempotency_key: str | None = None,
        conversation_id: str | None = None,
    ) -> StreamPlan:
        """What a streamed turn needs before its response starts: the run to follow and, for
        a new turn, how to begin it. Errors a client can fix in its request (an unknown
        agent, a key reused for another body) are raised here, as HTTP errors; the turn itself
        begins once the stream is open, so the first byte does not wait for it."""
        body = body.model_copy(update={"streaming": True})
        digest = request_hash(conversation_id or agent_id, body) if idempotency_key else None
        if body.background:
            run = await self.send_async(
                actor,
                agent_id,
                body,
                idempotency_key=idempotency_key,
                conversation_id=conversation_id,
            )
            return StreamPlan(run.id, None)
        if idempotency_key and digest:
            existing = await self.intake.existing(actor, idempotency_key, digest)
            if existing is not None:
                return StreamPlan(existing.id, None)  # re-attach to the same run
        self.deps.engine.check_model(body.override_model)
        approval, _ = split_inputs(body)
        approving = approval is not None
        stack = await self._admit_stream(actor, agent_id, body, approving, conversation_id)
        run_id = new_id(Prefix.run)
        intake = Intake(
            RunKind.foreground,
            group_id,
            idempotency_key,
            digest,
            run_id,
            conversation_id=conversation_id,
        )

        async def begin() -> None:
            await self._begin(stack, actor, agent_id, body, intake)

        return StreamPlan(run_id, begin)

    async def _admit_stream(
        self,
        actor: Actor,
        agent_id: str,
        body: LettaRequest,
        approving: bool,
        conversation_id: str | None,
    ) -> AsyncExitStack:
        """The thread's turn held, once nothing known stops the turn from starting (see
        ``app.turns.admission``); the caller's ``begin`` releases it."""
        wait = body.multitask_strategy == "enqueue"
        stack = AsyncExitStack()
        try:
            hold = self.admission.hold
            left = await hold(stack, actor, agent_id, wait=wait, conversation_id=conversation_id)
            await self.admission.check_startable(
                actor,
                agent_id,
                approving=approving,
                wait_seconds=left if wait else None,
                conversation_id=conversation_id,
            )
        except BaseException:
            await stack.aclose()
            raise
        return stack

    def begin(self, plan: StreamPlan) -> "asyncio.Task[None] | None":
        """Start a planned stream's turn on a task tracked here (and awaited at shutdown)."""
        return self.execution.begin(plan)

    async def _begin(
        self,
        stack: AsyncExitStack,
        actor: Actor,
        agent_id: str,
        body: LettaRequest,
        intake: Intake,
    ) -> None:
        """Accept the streamed turn, its gate already held on ``stack``, and run it in a task
        of its own."""
        wait = body.multitask_strategy == "enqueue"
        try:
            started = time.perf_counter_ns()
            accepted = await self.intake.admit(actor, agent_id, body, intake, wait=wait)
        except BaseException:
            await stack.aclose()
            raise
        if isinstance(accepted, LettaResponse):
            await stack.aclose()
            raise BadRequest("this approval was already applied; follow its run instead")
        self.execution.stream(stack, body, accepted, started, actor)

    async def drain(self) -> None:
        """Let streamed turns in flight finish (at shutdown)."""
        await self.execution.drain()

    async def send(
        self,
        actor: Actor,
        agent_id: str,
        body: LettaRequest,
        *,
        group_id: str | None = None,
        idempotency_key: str | None = None,
        conversation_id: str | None = None,
    ) -> LettaResponse:
        digest = request_hash(conversation_id or agent_id, body) if idempotency_key else None
        intake = Intake(
            RunKind.foreground, group_id, idempotency_key, digest, conversation_id=conversation_id
        )
        if (replay := await self.intake.replay(actor, body, intake)) is not None:
            return replay
        wait = body.multitask_strategy == "enqueue"
        async with AsyncExitStack() as stack:
            hold = self.admission.hold
            await hold(stack, actor, agent_id, wait=wait, conversation_id=conversation_id)
            if (replay := await self.intake.replay(actor, body, intake)) is not None:
                return replay
            started = time.perf_counter_ns()
            accepted = await self.intake.admit(actor, agent_id, body, intake, wait=wait)
            if isinstance(accepted, LettaResponse):
                return accepted
            return await self.execution.respond(body, accepted, started)

    async def send_async(
        self,
        actor: Actor,
        agent_id: str,
        body: LettaRequest,
        *,
        idempotency_key: str | None,
        callback_url: str | None = None,
        conversation_id: str | None = None,
    ) -> Run:
        """Accept a turn to run in the background; its run is returned at once."""
        digest = request_hash(conversation_id or agent_id, body) if idempotency_key else None
        if idempotency_key and digest:
            existing = await self.intake.existing(actor, idempotency_key, digest)
            if existing is not None:
                return existing
        intake = Intake(
            RunKind.async_,
            None,
            idempotency_key,
            digest,
            callback_url=callback_url,
            conversation_id=conversation_id,
        )
        accepted = await self.intake.admit(
            actor, agent_id, body, intake, wait=body.multitask_strategy == "enqueue"
        )
        if isinstance(accepted, LettaResponse):
            raise BadRequest(approvals.NOTHING_PENDING)
        self.deps.control.wakeup.wake()
        return accepted.run

    async def execute_queued(self, run: Run) -> None:
        """The dispatcher's entry for an ``async`` run it claimed."""
        await self.execution.execute_queued(run)

    async def group_manager(self, actor: Actor, group_id: str) -> str:
        async with self.deps.db.session(write=False) as session:
            group = await GroupRepository(session, actor.organization_id).get(group_id)
        if group is None:
            raise NotFound(f"Group {group_id} not found")
        if group.manager_agent_id is None:
            raise BadRequest(f"Group {group_id} has no manager agent to answer")
        return group.manager_agent_id


def queued_turn_executor(services: "Services") -> lifecycle.Executor:
    """The executor of ``async`` runs (named in the run lifecycle's registry)."""
    return services.turns.execute_queued
