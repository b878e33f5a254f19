"""A sleeptime run: read the primary's new messages, let the sleeptime agent edit memory
through the ordinary loop, and land everything in one transaction.

The edits are staged while the run goes; the final transaction applies them (replaying them on
any block someone changed meanwhile), advances this sleeptime agent's watermark over exactly
the messages the transcript showed, and completes the run, fenced on our lease. A failed,
cancelled or crashed attempt therefore leaves no edit and no watermark move behind, and the
next run covers the same messages again: no gaps, no overlaps.

The transcript and the steps of an attempt are stored as it goes (the loop reads them back).
An attempt that never ends its run (its process died, it lost its lease, or it gave the run
back to be retried) is abandoned: its messages are deleted when the run is reaped, and again,
for any a late writer left, when the next attempt begins. The sleeptime agent's history
keeps only the messages of the attempts that ended their runs.
"""

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from app.blocks.memory import StagedConflictError, StagedMemory
from app.blocks.repository import BlockRepository
from app.config import Settings
from app.engine.loop import Engine, TurnSpec
from app.engine.results import TurnOutcome, UsageTotals
from app.groups.repository import GroupRepository
from app.kit.db import Database
from app.messages.factory import Owner, new_message
from app.messages.repository import MessageRepository
from app.runs import events, lifecycle
from app.runs.control import RunControl
from app.runs.lifecycle import LeaseLostError
from app.runs.models import Run
from app.runs.states import RunStatus, StopReason, status_for
from app.sleeptime.transcript import transcript
from app.streaming.hub import Hub
from app.streaming.recorder import RunRecorder
from app.streaming.run_stream import RunStream
from app.turns.finish import end_run

if TYPE_CHECKING:
    from app.runtime import Services

log = structlog.get_logger("app.sleeptime")


@dataclass(frozen=True, slots=True)
class _Plan:
    start_seq: int  # the member's watermark when the run started
    through_seq: int
    transcript: str | None  # None: nothing to read
    member: bool = True  # False: the agent left the group; there is no watermark to move


class SleeptimeJob:
    def __init__(
        self, db: Database, engine: Engine, settings: Settings, control: RunControl, hub: Hub
    ) -> None:
        self.db = db
        self.engine = engine
        self.settings = settings
        self.control = control
        self.hub = hub

    async def execute(self, run: Run) -> None:
        started = time.perf_counter_ns()
        try:
            async with asyncio.timeout(self._budget(run, "max_seconds")):
                await self._execute(run, started)
        except TimeoutError:
            error = {"type": "budget_exceeded", "message": "the run exceeded its time budget"}
            await self._end(run, TurnOutcome(StopReason.error, UsageTotals(), error), started)
        except StagedConflictError as exc:
            await self._retry(run, str(exc))
        except LeaseLostError:
            log.warning("sleeptime.lease_lost", run_id=run.id)

    def _budget(self, run: Run, name: str) -> float:
        budgets = (run.request or {}).get("budgets") or {}
        default = {
            "max_seconds": self.settings.sleeptime_max_seconds,
            "max_steps": self.settings.sleeptime_max_steps,
            "max_tokens": self.settings.sleeptime_max_tokens,
        }[name]
        return float(budgets.get(name, default))

    async def _plan(self, session: AsyncSession, run: Run) -> _Plan:
        request = run.request or {}
        through = int(request["through_seq"])
        org = run.organization_id
        start = await GroupRepository(session, org).watermark(str(run.group_id), run.agent_id)
        if start is None:
            return _Plan(through, through, None, member=False)
        if start >= through:
            return _Plan(int(start), int(start), None)
        primary = str(request["primary_agent_id"])
        messages = await MessageRepository(session, org).transcript(primary, start, through)
        return _Plan(int(start), through, transcript(list(messages)))

    async def _execute(self, run: Run, started: int) -> None:
        org = run.organization_id
        async with self.db.session() as session:
            plan = await self._plan(session, run)
            pairs = await BlockRepository(session, org).for_agents([run.agent_id])
        if plan.transcript is None:
            done = TurnOutcome(StopReason.end_turn, UsageTotals())
            await self._end(run, done, started, plan if plan.member else None)
            return
        staged = StagedMemory([b for _, b in pairs])
        async with self.db.session(write=False) as session:
            recorder = await RunRecorder.continuing(session, self.hub, run.id, org)
        spec = TurnSpec(
            organization_id=org,
            agent_id=run.agent_id,
            run_id=run.id,
            group_id=run.group_id,
            max_steps=int(self._budget(run, "max_steps")),
            staged=staged,
            max_total_tokens=int(self._budget(run, "max_tokens")),
        )
        async with self.db.session() as session:
            await discard_attempt(session, run)
            text = [{"type": "text", "text": plan.transcript}]
            message = new_message(Owner.of(run), "user", content=text)
            repo = MessageRepository(session, org)
            seq = await repo.allocate_seq(run.agent_id, 1)
            if seq is None:
                return  # the sleeptime agent was deleted; its runs went with it
            message.seq = seq
            await repo.insert([message])
            first = await self.engine.prepare(session, spec)

        async def finish(session: AsyncSession, outcome: TurnOutcome) -> None:
            elapsed = time.perf_counter_ns() - started
            if status_for(outcome.stop_reason) == RunStatus.completed:
                await staged.commit(session, org, run.agent_id, run.id)
                await _advance(session, run, plan)
            await end_run(session, run, outcome, elapsed, self.control.owner)

        cancel = self.control.register(run.id)
        try:
            await self.engine.run(
                spec,
                RunStream(self.db, recorder),
                started_ns=started,
                first=first,
                finish=finish,
                cancel=cancel,
            )
        finally:
            self.hub.close(run.id)

    async def _end(
        self, run: Run, outcome: TurnOutcome, started: int, plan: _Plan | None = None
    ) -> None:
        async with self.db.session() as session:
            if plan is not None:
                await _advance(session, run, plan)
            await end_run(
                session, run, outcome, time.perf_counter_ns() - started, self.control.owner
            )

    async def _retry(self, run: Run, reason: str) -> None:
        """Give the run back to the queue (fenced): its next attempt reads fresh blocks."""
        async with self.db.session() as session:
            if await lifecycle.retry(session, run.id, self.control.owner):
                events.retried(run, reason)


def executor(services: "Services") -> lifecycle.Executor:
    """The executor of ``sleeptime`` runs (named in the run lifecycle's registry)."""
    job = SleeptimeJob(
        services.db, services.engine, services.settings, services.control, services.hub
    )
    return job.execute


async def discard_attempt(session: AsyncSession, run: Run) -> None:
    """Delete what an abandoned attempt of ``run`` stored in the sleeptime agent's history."""
    await MessageRepository(session, run.organization_id).delete_of_run(run.agent_id, run.id)


async def _advance(session: AsyncSession, run: Run, plan: _Plan) -> None:
    """Move the watermark over what this run read, from exactly where it started."""
    groups = GroupRepository(session, run.organization_id)
    if not await groups.advance_watermark(
        str(run.group_id), run.agent_id, plan.start_seq, plan.through_seq
    ):
        raise LeaseLostError(f"the watermark of {run.agent_id} moved under run {run.id}")
