"""The end of a turn, committed in the same transaction as its last step: the run's terminal
state (fenced on the lease owner), the agent's last-run fields (unless the last step set them
with its messages), and the sleeptime trigger; and the HTTP error a JSON turn answers when
that end was a failure the client must see."""

from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.repository import AgentRepository
from app.engine.results import TurnOutcome
from app.kit.db import utcnow
from app.kit.errors import TurnFailed
from app.providers.base import failure_status
from app.runs import lifecycle
from app.runs.models import Run
from app.streaming.closing import usage_statistics


class SleeptimeTrigger(Protocol):
    """Queues the sleeptime runs a finished turn calls for, in the turn's last transaction;
    returns their ids. The sleeptime layer provides it when the app is assembled, so the turn
    does not depend on the layer that runs on top of it."""

    async def __call__(
        self,
        session: AsyncSession,
        *,
        organization_id: str,
        primary_id: str,
        parent_run_id: str,
        through_seq: int,
        last_message_id: str,
        force: bool = False,
    ) -> list[str]: ...


async def finish_turn(
    session: AsyncSession,
    run: Run,
    outcome: TurnOutcome,
    duration_ns: int,
    owner: str,
    sleeptime: SleeptimeTrigger,
) -> None:
    """End a primary's (or any agent's) turn; queue sleeptime runs when they are due."""
    org = run.organization_id
    last_seq, last_id = outcome.last_seq, outcome.last_message_id
    if outcome.sleeptime_enabled and last_seq is not None and last_id is not None:
        outcome.run_ids = await sleeptime(
            session,
            organization_id=org,
            primary_id=run.agent_id,
            parent_run_id=run.id,
            through_seq=last_seq,
            last_message_id=last_id,
            force=outcome.sleeptime_forced,
        )
    await end_run(session, run, outcome, duration_ns, owner)
    if not outcome.last_run_recorded:  # a turn that ended without storing a last step
        await AgentRepository(session, org).record_run(
            run.agent_id,
            stop_reason=outcome.stop_reason,
            at=utcnow(),
            duration_ms=duration_ns // 1_000_000,
        )


async def end_run(
    session: AsyncSession, run: Run, outcome: TurnOutcome, duration_ns: int, owner: str
) -> None:
    """End the run with the turn's outcome (fenced on ``owner``: see ``lifecycle.finish``)."""
    await lifecycle.finish(
        session,
        run,
        owner=owner,
        stop_reason=outcome.stop_reason,
        duration_ns=duration_ns,
        ttft_ns=outcome.ttft_ns,
        usage=usage_statistics(outcome.usage, outcome.run_ids),
        error=outcome.error,
        metadata=compaction_metadata(run, outcome),
    )


def compaction_metadata(run: Run, outcome: TurnOutcome) -> dict[str, Any] | None:
    """The run's metadata with ``compaction``: what each compaction of its window did
    (None, and the metadata left as it is, when the turn did not compact)."""
    if not outcome.compactions:
        return None
    return {**(run.metadata_ or {}), "compaction": outcome.compactions}


def turn_failure(run_id: str, error: dict[str, Any] | None) -> TurnFailed | None:
    """The HTTP error a JSON turn answers when it ended on a provider failure (Letta raises
    these from its non-streaming path, so the SDKs raise too); None for any other end."""
    if not error:
        return None
    error_type = str(error.get("type", ""))
    known = failure_status(error_type)
    if known is None:
        return None
    status, summary = known
    cause = str(error.get("message") or summary)
    return TurnFailed(status, summary, run_id=run_id, error_type=error_type, cause=cause)
