"""What the queue looks like, across every process and organization: for metrics and for
readiness. Read-only, unscoped by design (operators see the whole database, never a row's
content), and cheap with any number of ended runs: every statement here filters on the
predicate of a partial index (``QUEUED``, ``LEASED``) written verbatim, so it reads only the
runs not ended yet.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, exists, func, literal, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.runs.lifecycle import QUEUED_KINDS
from app.runs.models import LEASED, QUEUED, Run
from app.runs.states import RunStatus


@dataclass(frozen=True, slots=True)
class Active:
    """The runs not ended yet: (kind, status, count) rows, and since when the oldest queued
    run that is due has waited (None when none waits)."""

    counts: list[tuple[str, str, int]]
    oldest_waiting_since: datetime | None


async def active(session: AsyncSession, now: datetime) -> Active:
    """Count the queued and running runs by kind, in one statement."""
    waiting_since = func.coalesce(Run.available_at, Run.created_at)
    due = (Run.available_at.is_(None)) | (Run.available_at <= now)
    queued = (
        select(
            Run.kind,
            literal(RunStatus.created.value).label("status"),
            func.count().label("n"),
            func.min(case((due, waiting_since))).label("since"),
        )
        .where(QUEUED)
        .group_by(Run.kind)
    )
    running = (
        select(
            Run.kind,
            literal(RunStatus.running.value).label("status"),
            func.count().label("n"),
            null().label("since"),
        )
        .where(LEASED)
        .group_by(Run.kind)
    )
    rows = (await session.execute(union_all(queued, running))).all()
    oldest = min((r.since for r in rows if r.since is not None), default=None)
    return Active([(r.kind, r.status, int(r.n)) for r in rows], oldest)


@dataclass(frozen=True, slots=True)
class Stale:
    """Runs left waiting longer than a lease: queued runs nothing claims, and running runs
    whose lease lapsed long ago with no reaper to settle them."""

    queued: int  # due, free to run (no live run holds their thread), waiting over a lease
    oldest_waiting_since: datetime | None
    unreaped: int  # running, their lease lapsed over a lease ago
    executing: bool  # some process holds a live lease on a queued kind's run

    @property
    def stuck(self) -> int:
        """How many runs nothing executes: queued ones while no dispatcher executes anything
        (a busy one is executing), and every unreaped one (a live dispatcher reaps within
        its reaper period)."""
        return (0 if self.executing else self.queued) + self.unreaped


async def stale(session: AsyncSession, now: datetime, lease_seconds: float) -> Stale:
    """Find the runs left waiting for longer than ``lease_seconds``, in one statement.

    A run waits since it became due: its ``available_at`` (a debounce) or its creation, or,
    once a reaper gave it back (``attempts`` > 0), its last update. A queued run whose thread
    (agent, conversation) holds a running run with a lease not lapsed over a lease ago waits
    its turn, as the dispatchers' claim does; it is not stale.
    """
    cutoff = now - timedelta(seconds=lease_seconds)
    other = aliased(Run)
    busy = exists().where(
        other.agent_id == Run.agent_id,
        other.conversation_id.is_not_distinct_from(Run.conversation_id),
        other.status == RunStatus.running,
        other.lease_expires_at >= cutoff,
    )
    queued = (
        select(func.count(), func.min(func.coalesce(Run.available_at, Run.created_at)))
        .where(QUEUED)
        .where(Run.created_at < cutoff)
        .where((Run.available_at.is_(None)) | (Run.available_at < cutoff))
        .where((Run.attempts == 0) | (Run.updated_at < cutoff))
        .where(~busy)
    ).subquery()
    unreaped = (
        select(func.count()).where(LEASED).where(Run.lease_expires_at < cutoff).scalar_subquery()
    )
    executing = exists().where(LEASED, Run.lease_expires_at >= now, Run.kind.in_(QUEUED_KINDS))
    row = (
        await session.execute(select(queued, unreaped.label("unreaped"), executing.label("x")))
    ).one()
    return Stale(int(row[0]), row[1], int(row.unreaped), bool(row.x))
