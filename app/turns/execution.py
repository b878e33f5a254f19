"""Running an accepted turn: the engine's loop driven to its end, the run always ended (and
its stream closed) whatever happens, and every task a turn starts owned here and awaited at
shutdown: nothing is left to run unobserved."""

import asyncio
import time
from contextlib import AsyncExitStack

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.deps import Actor
from app.engine.events import TurnEnded
from app.engine.loop import Prepared, TurnSpec
from app.engine.results import TurnOutcome, UsageTotals
from app.kit import tracing
from app.messages.schemas import LettaRequest, LettaResponse
from app.runs.lifecycle import LeaseLostError
from app.runs.models import Run
from app.runs.states import StopReason
from app.streaming.recorder import RunRecorder
from app.streaming.run_stream import RunStream
from app.turns.acceptance import turn_spec
from app.turns.finish import end_run, finish_turn
from app.turns.response import turn_response
from app.turns.types import Accepted, StreamPlan, TurnDeps

log = structlog.get_logger("app.turns")


class Execution:
    def __init__(self, deps: TurnDeps) -> None:
        self.deps = deps
        self._tasks: set[asyncio.Task[None]] = set()

    def _own(self, task: "asyncio.Task[None]") -> "asyncio.Task[None]":
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self) -> None:
        """Let streamed turns in flight finish (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def begin(self, plan: StreamPlan) -> "asyncio.Task[None] | None":
        """Start a planned stream's turn on a task owned here."""
        if plan.begin is None:
            return None
        task = self._own(asyncio.create_task(plan.begin(), name=f"begin:{plan.run_id}"))
        task.add_done_callback(_begun)
        return task

    def _run_stream(self, recorder: RunRecorder, body: LettaRequest) -> RunStream:
        """The consumer of the turn's events: its Letta stream, kept and published."""
        return RunStream(self.deps.db, recorder, use_assistant_message=body.use_assistant_message)

    def stream(
        self,
        stack: AsyncExitStack,
        body: LettaRequest,
        accepted: Accepted,
        started: int,
        actor: Actor,
    ) -> None:
        """Run an accepted streamed turn, its gate held on ``stack``, on a task owned here.
        The turn runs to its end even if the client goes away."""
        recorder = RunRecorder(self.deps.hub, accepted.run.id, actor.organization_id)
        stream = self._run_stream(recorder, body)
        self._own(asyncio.create_task(self._streamed(stack, accepted, started, stream)))

    async def _streamed(
        self, stack: AsyncExitStack, accepted: Accepted, started: int, stream: RunStream
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

    async def respond(self, body: LettaRequest, accepted: Accepted, started: int) -> LettaResponse:
        """Run a JSON turn to its end; its response."""
        run = accepted.run
        stream = self._run_stream(RunRecorder(self.deps.hub, run.id, run.organization_id), body)
        outcome = await self.execute(run, accepted.spec, stream, started, accepted.first)
        shown = accepted.resumed + stream.messages
        return turn_response(accepted.run.id, outcome, shown, body.include_return_message_types)

    async def execute_queued(self, run: Run) -> None:
        """The dispatcher's entry for an ``async`` run it claimed. Its completion callback
        goes out on a task of its own: the dispatcher's slot is free as soon as the run ends."""
        body = LettaRequest.model_validate(run.request or {})
        spec = turn_spec(Actor(organization_id=run.organization_id), run, body)
        async with self.deps.db.session(write=False) as session:
            recorder = await RunRecorder.continuing(
                session, self.deps.hub, run.id, run.organization_id
            )
        stream = self._run_stream(recorder, body)
        try:
            await self.execute(run, spec, stream, time.perf_counter_ns(), None)
        finally:
            self.deps.callbacks.run_ended(run)

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
        deps = self.deps

        async def finish(session: AsyncSession, outcome: TurnOutcome) -> None:
            elapsed = time.perf_counter_ns() - started
            await finish_turn(session, run, outcome, elapsed, deps.control.owner, deps.sleeptime)

        cancel = deps.control.register(run.id)
        try:
            with tracing.span("turn", run_id=run.id, agent_id=run.agent_id, kind=run.kind) as sp:
                outcome = await deps.engine.run(
                    spec, stream, started_ns=started, first=first, finish=finish, cancel=cancel
                )
                sp.set("outcome", outcome.stop_reason.value)
        except LeaseLostError:
            raise
        except BaseException:
            await self._fail(run, started, stream)
            raise
        finally:
            deps.control.unregister(run.id)
            deps.control.ended(run.id)
            deps.hub.close(run.id)
        if outcome.run_ids:
            deps.control.wakeup.wake()
        return outcome

    async def _fail(self, run: Run, started: int, stream: RunStream) -> None:
        """A bug or a dropped database: the run must still end (the error then goes on)."""
        error = {"type": "internal_error", "message": "the turn failed unexpectedly"}
        failed = TurnEnded(TurnOutcome(StopReason.error, UsageTotals(), error))
        async with self.deps.db.session() as session:
            elapsed = time.perf_counter_ns() - started
            await end_run(session, run, failed.outcome, elapsed, self.deps.control.owner)
            await stream.committing(session, failed)
        await stream.emit(failed)


def _begun(task: "asyncio.Task[None]") -> None:
    if not task.cancelled() and (error := task.exception()) is not None:
        # Reported to the stream's reader; logged in case the reader has already gone.
        log.info("turn.refused", error=str(error))
