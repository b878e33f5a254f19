"""The run queue: claim, renew, reap. Queued kinds are ``async`` and ``sleeptime``.

A run being executed holds a lease (``lease_owner``, ``lease_expires_at``) that its process
renews while it executes the run. Any process reaps expired leases: queued runs go back to
``created`` (until ``max_attempts``), foreground turns and exhausted runs become ``failed``,
and runs whose cancel was requested become ``cancelled``. Completion is fenced on the lease
owner. A reaped run's attempt was abandoned: an ``Abandoned`` hook clears what it left.
"""

from collections.abc import Awaitable, Callable, Collection, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.kit import dialect
from app.kit.db import now_in, utcnow
from app.runs.models import Run, RunEvent

QUEUED_KINDS = ("async", "sleeptime")


async def claim(session: AsyncSession, owner: str, lease: float) -> Run | None:
    """Take the oldest runnable queued run, skipping agents that are busy with another run.
    Its start and lease are timed once it is locked: never before it was created."""
    due_by = await now_in(session)
    other = aliased(Run)
    busy = exists().where(
        other.agent_id == Run.agent_id,
        other.status == "running",
        other.kind.in_(("foreground", *QUEUED_KINDS)),
    )
    candidate = await session.scalar(
        select(Run)
        .where(Run.status == "created", Run.kind.in_(QUEUED_KINDS))
        .where((Run.available_at.is_(None)) | (Run.available_at <= due_by))
        .where(~busy)
        .order_by(Run.created_at, Run.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    if candidate is None:
        return None
    now = utcnow()
    candidate.status = "running"
    candidate.lease_owner = owner
    candidate.lease_expires_at = now + timedelta(seconds=lease)
    candidate.attempts += 1
    candidate.started_at = candidate.started_at or now
    candidate.updated_at = now
    await session.flush()
    return candidate


async def next_available_at(session: AsyncSession) -> datetime | None:
    """When the earliest debounced run becomes runnable (for the dispatcher's wait)."""
    return await session.scalar(
        select(Run.available_at)
        .where(Run.status == "created", Run.kind.in_(QUEUED_KINDS), Run.available_at > utcnow())
        .order_by(Run.available_at)
        .limit(1)
    )


async def renew(
    session: AsyncSession, owner: str, lease: float, run_ids: Collection[str]
) -> tuple[datetime, list[tuple[str, bool]]]:
    """Extend the leases of the runs this process is executing (a run it claimed but does
    not execute, because the claim's answer was lost, is left to lapse). Returns when the
    renewed leases expire, and (run id, cancel requested) for each lease still held."""
    expires = await now_in(session) + timedelta(seconds=lease)
    result = await session.execute(
        update(Run)
        .where(Run.id.in_(run_ids), Run.lease_owner == owner, Run.status == "running")
        .values(lease_expires_at=expires)
        .returning(Run.id, Run.cancel_requested)
        .execution_options(synchronize_session=False)
    )
    return expires, [(run_id, bool(cancel)) for run_id, cancel in result]


def _ended(status: str, stop_reason: str, error: dict[str, Any] | None) -> dict[str, Any]:
    now = utcnow()
    return {
        "status": status,
        "stop_reason": stop_reason,
        "error": error,
        "completed_at": now,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
    }


Abandoned = Callable[[AsyncSession, Run], Awaitable[None]]


async def reap(
    session: AsyncSession,
    *,
    max_attempts: int,
    alive: str | None = None,
    abandoned: Abandoned | None = None,
) -> Sequence[Run]:
    """Settle runs whose lease expired (or, with ``alive``, every running run another owner
    holds: SQLite's single process knows they are all dead). ``abandoned`` is called for
    each in the same transaction. Returns the runs it changed."""
    now = utcnow()
    stmt = select(Run).where(Run.status == "running")
    if alive is None:
        stmt = stmt.where(Run.lease_expires_at < now)
    else:
        stmt = stmt.where((Run.lease_owner.is_(None)) | (Run.lease_owner != alive))
    expired = (await session.scalars(stmt.with_for_update(skip_locked=True))).all()
    for run in expired:
        if abandoned is not None:
            await abandoned(session, run)
        for key, value in (await _settlement(session, run, max_attempts)).items():
            setattr(run, key, value)
        if run.status != "created":
            await dialect.notify_done(session, run.id)
    await session.flush()
    return expired


async def _settlement(session: AsyncSession, run: Run, max_attempts: int) -> dict[str, Any]:
    """What becomes of a run whose attempt was abandoned."""
    if run.cancel_requested:
        return _ended("cancelled", "cancelled", None)
    if run.kind == "foreground":
        error = {"type": "process_died", "message": "the process running this turn stopped"}
        return _ended("failed", "error", error)
    if run.attempts >= max_attempts:
        error = {"type": "max_attempts", "message": f"gave up after {run.attempts} attempts"}
        return _ended("failed", "error", error)
    if run.kind == "sleeptime" and await _waiting_sleeptime(session, run):
        # A later trigger is already queued for this agent and covers what this run did.
        error = {"type": "superseded", "message": "a queued run covers this one's messages"}
        return _ended("failed", "error", error)
    return {
        "status": "created",
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": utcnow(),
    }


async def _waiting_sleeptime(session: AsyncSession, run: Run) -> bool:
    found = await session.scalar(
        select(Run.id).where(
            and_(Run.agent_id == run.agent_id, Run.kind == "sleeptime", Run.status == "created")
        )
    )
    return found is not None


async def forget_streams(session: AsyncSession, retention_seconds: float) -> None:
    """Drop stream events older than the retention (their runs answer 410 to a resume)."""
    cutoff = utcnow() - timedelta(seconds=retention_seconds)
    await session.execute(delete(RunEvent).where(RunEvent.created_at < cutoff))
