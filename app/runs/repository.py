from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, cast

from sqlalchemy import (
    Select,
    String,
    Table,
    bindparam,
    case,
    delete,
    exists,
    func,
    inspect,
    literal,
    null,
    select,
    text,
    union_all,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.kit import batch, dialect
from app.kit.db import utcnow
from app.kit.direct import Direct
from app.kit.pagination import Order, PageParams, paginate
from app.kit.repository import Repository, table_of
from app.runs.models import JOINED_WAITING, LEASED, QUEUED, Run, RunEvent, Step
from app.runs.states import ACTIVE, ENDED, RunStatus

_RUNS = table_of(Run)
_EVENTS = table_of(RunEvent)
_EVENT_KEYS = ("run_id", "seq", "organization_id", "payload", "created_at")
# Stream events (SQLite). On PostgreSQL they go with the transaction's next statement
# (``app.kit.batch``), whose insert also tells followers on other processes that the run has
# new ones (``dialect.EVENTS_CHANNEL``; one notification per transaction and run, however
# many rows: PostgreSQL folds identical ones).
_INSERT_EVENTS = Direct(_EVENTS.insert())
_ANNOUNCED_EVENTS = batch.Insertion(
    _EVENTS,
    _EVENT_KEYS,
    (
        func.pg_notify(
            bindparam("b_events_channel", dialect.EVENTS_CHANNEL, type_=String()), _EVENTS.c.run_id
        ),
    ),
)


@cache
def _finish(columns: tuple[str, ...], announce: bool) -> Direct:
    """The fenced end of a run, setting the run attributes ``columns`` (built once per set).
    ``announce`` (PostgreSQL): the statement also tells every process that the run ended
    (``dialect.DONE_CHANNEL``), only if it did end it."""
    mapped = inspect(Run).column_attrs
    values: dict[str, Any] = {
        mapped[attr].columns[0].key: bindparam(f"v_{attr}", type_=mapped[attr].columns[0].type)
        for attr in (*columns, "updated_at")
    }
    values.update(lease_owner=None, lease_expires_at=None)
    statement = (
        update(_RUNS)
        .where(_RUNS.c.id == bindparam("b_run"), _RUNS.c.organization_id == bindparam("b_org"))
        .where(_RUNS.c.status == RunStatus.running, _RUNS.c.lease_owner == bindparam("b_owner"))
        .values(values)
    )
    if announce:
        channel = bindparam("b_done_channel", dialect.DONE_CHANNEL, type_=String())
        statement = statement.returning(func.pg_notify(channel, _RUNS.c.id))
    return Direct(statement)


class RunRepository(Repository):
    """Every run and step query, scoped to one organization."""

    async def insert_step(self, step: Step) -> None:
        """Store a step row with the transaction's next statement (``app.kit.batch``)."""
        await self.insert_rows(Step, [step], later=True)

    @property
    def _announces(self) -> bool:
        """Whether statements here send the notifications themselves (PostgreSQL)."""
        return dialect.dialect_of(self.session) == "postgresql"

    async def insert_events(self, run_id: str, events: Sequence[tuple[int, str]]) -> None:
        """Keep a run's numbered stream events (``(seq, payload)``), in one statement, which
        on PostgreSQL also tells followers on other processes (delivered at commit)."""
        now = utcnow()
        rows = [
            {
                "run_id": run_id,
                "seq": seq,
                "organization_id": self.organization_id,
                "payload": payload,
                "created_at": now,
            }
            for seq, payload in events
        ]
        if self._announces:
            await self.hold(_ANNOUNCED_EVENTS, rows)
        else:
            await self.direct_many(_INSERT_EVENTS, rows)

    def _scoped(self) -> Select[Run]:
        return select(Run).where(Run.organization_id == self.organization_id)

    async def get(self, run_id: str, *, for_update: bool = False) -> Run | None:
        stmt = self._scoped().where(Run.id == run_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def has_events(self, run_id: str) -> bool:
        """Whether any of the run's stream events are still kept."""
        stmt = select(RunEvent.seq).where(
            RunEvent.run_id == run_id, RunEvent.organization_id == self.organization_id
        )
        return await self.session.scalar(stmt.limit(1)) is not None

    async def events_after(self, run_id: str, cursor: int, limit: int) -> list[tuple[int, str]]:
        """The run's kept stream events numbered after ``cursor``, in order, at most
        ``limit``: (seq, encoded payload)."""
        rows = await self.session.execute(
            select(RunEvent.seq, RunEvent.payload)
            .where(RunEvent.run_id == run_id, RunEvent.organization_id == self.organization_id)
            .where(RunEvent.seq > cursor)
            .order_by(RunEvent.seq)
            .limit(limit)
        )
        return [(int(seq), str(payload)) for seq, payload in rows]

    async def last_event_seq(self, run_id: str) -> int:
        """The number of the run's last stream event kept (0 for none)."""
        stmt = select(func.max(RunEvent.seq)).where(
            RunEvent.run_id == run_id, RunEvent.organization_id == self.organization_id
        )
        return int(await self.session.scalar(stmt) or 0)

    async def by_idempotency_key(self, key: str) -> Run | None:
        return await self.session.scalar(self._scoped().where(Run.idempotency_key == key))

    async def list_page(
        self,
        params: PageParams,
        *,
        agent_ids: Sequence[str] = (),
        statuses: Sequence[str] = (),
        background: bool | None = None,
        stop_reason: str | None = None,
        conversation_id: str | None = None,
    ) -> Sequence[Run]:
        stmt = self._scoped()
        if agent_ids:
            stmt = stmt.where(Run.agent_id.in_(agent_ids))
        if conversation_id is not None:
            stmt = stmt.where(Run.conversation_id == conversation_id)
        if statuses:
            stmt = stmt.where(Run.status.in_(statuses))
        if background is not None:
            stmt = stmt.where(Run.background.is_(background))
        if stop_reason is not None:
            stmt = stmt.where(Run.stop_reason == stop_reason)
        return await paginate(
            self.session, stmt, entity=Run, organization_id=self.organization_id, params=params
        )

    async def active(
        self, agent_id: str, kinds: Collection[str], conversation_id: str | None = None
    ) -> Sequence[Run]:
        """The runs of ``kinds`` not ended yet of one thread of the agent: its main thread,
        or the conversation ``conversation_id``."""
        stmt = self._scoped().where(
            Run.agent_id == agent_id, Run.status.in_(ACTIVE), Run.kind.in_(kinds)
        )
        if conversation_id is None:
            stmt = stmt.where(Run.conversation_id.is_(None))
        else:
            stmt = stmt.where(Run.conversation_id == conversation_id)
        return (await self.session.scalars(stmt)).all()

    async def steps(self, run_id: str, params: PageParams) -> Sequence[Step]:
        stmt = select(Step).where(
            Step.run_id == run_id, Step.organization_id == self.organization_id
        )
        return await paginate(
            self.session, stmt, entity=Step, organization_id=self.organization_id, params=params
        )

    async def usage(self, run_id: str) -> tuple[int, int, int]:
        row = (
            await self.session.execute(
                select(
                    func.coalesce(func.sum(Step.completion_tokens), 0),
                    func.coalesce(func.sum(Step.prompt_tokens), 0),
                    func.coalesce(func.sum(Step.total_tokens), 0),
                ).where(Step.run_id == run_id, Step.organization_id == self.organization_id)
            )
        ).one()
        return int(row[0]), int(row[1]), int(row[2])

    async def add(self, run: Run) -> None:
        """Store a new run with the transaction's next statement (``app.kit.batch``). It
        stays out of the session: later changes go through this repository's statements,
        not a flush."""
        await self.insert_rows(Run, [run], later=True)

    async def insert_unless_waiting(self, values: dict[str, Any]) -> None:
        """Insert a run of a joining kind unless its agent already has one of that kind
        waiting, as the partial unique index on waiting joined runs rules
        (``ux_runs_joined_waiting``)."""
        if values["organization_id"] != self.organization_id:
            raise LookupError("the run is not this organization's")
        await self.session.execute(
            dialect.insert_ignoring_conflict(
                self.session,
                cast(Table, Run.__table__),
                values,
                index_elements=["agent_id", "kind"],
                # As text: PostgreSQL matches an ON CONFLICT target against the index's own
                # predicate, which bound parameters would not match.
                index_where=text(JOINED_WAITING),
            )
        )

    async def lock_waiting(self, agent_id: str, kind: str) -> Run | None:
        """The agent's run of ``kind`` waiting to be claimed, locked."""
        return await self.session.scalar(
            self._scoped()
            .where(Run.agent_id == agent_id, Run.kind == kind, Run.status == RunStatus.created)
            .with_for_update()
        )

    async def save(self, run: Run, values: dict[str, Any]) -> None:
        """Write ``values`` to a run of this organization that this transaction locked."""
        if run.organization_id != self.organization_id:
            raise LookupError(f"run {run.id} is not this organization's")
        for key, value in values.items():
            setattr(run, key, value)
        await self.session.flush()

    async def finish(self, run_id: str, *, owner: str, **values: Any) -> bool:
        """End a running run held by ``owner``; False if it is not (anymore): someone else
        took its lease over, or a cancel already ended it. On PostgreSQL the statement also
        tells every process that the run ended (delivered at commit)."""
        params: dict[str, Any] = {"b_run": run_id, "b_org": self.organization_id, "b_owner": owner}
        params.update({f"v_{k}": v for k, v in values.items()}, v_updated_at=utcnow())
        statement = _finish(tuple(sorted(values)), self._announces)
        return await self.direct_count(statement, params) > 0

    async def claim_callback(self, run_id: str) -> Run | None:
        """Take the run's completion callback, once: the ended run with a ``callback_url``
        not sent yet, now marked sent (None if there is nothing to send, or it was taken)."""
        return await self.session.scalar(
            update(Run)
            .where(Run.id == run_id, Run.organization_id == self.organization_id)
            .where(Run.status.in_(ENDED), Run.callback_url.is_not(None))
            .where(Run.callback_sent_at.is_(None))
            .values(callback_sent_at=utcnow())
            .returning(Run)
            .execution_options(synchronize_session=False)
        )

    async def record_callback(
        self, run_id: str, *, status_code: int | None, error: str | None
    ) -> None:
        await self.session.execute(
            update(Run)
            .where(Run.id == run_id, Run.organization_id == self.organization_id)
            .values(callback_status_code=status_code, callback_error=error)
            .execution_options(synchronize_session=False)
        )

    async def delete(self, run: Run) -> None:
        await self.session.delete(run)


@dataclass(frozen=True, slots=True)
class Active:
    """The runs not ended yet: (kind, status, count) rows, and since when the oldest queued
    run that is due has waited (None when none waits)."""

    counts: list[tuple[str, str, int]]
    oldest_waiting_since: datetime | None


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


class RunQueue:
    """The runs the dispatchers claim, renew and reap, across every organization.

    Unscoped by design: one dispatcher serves every organization, so it claims the oldest
    runnable run whoever owns it, and it renews and reaps leases by owner and expiry. These
    statements are reached only from the run lifecycle (``app.runs.lifecycle``) on behalf of
    the worker, never with an id a client sent; everything a request reaches is scoped by
    ``RunRepository``. The operators' reads (``unended`` for metrics, ``stale`` for readiness)
    see the whole database too, never a row's content, and stay cheap with any number of
    ended runs: each filters on the predicate of a partial index (``QUEUED``, ``LEASED``)
    written verbatim, so it reads only the runs not ended yet.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def lock_next(self, kinds: Collection[str], due_by: datetime) -> Run | None:
        """Lock the oldest run of ``kinds`` waiting and due by ``due_by`` whose thread (its
        agent's main thread, or its conversation) has no running run, skipping rows other
        dispatchers hold. An agent's conversations run side by side."""
        other = aliased(Run)
        busy = exists().where(
            other.agent_id == Run.agent_id,
            other.conversation_id.is_not_distinct_from(Run.conversation_id),
            other.status == RunStatus.running,
        )
        return await self.session.scalar(
            select(Run)
            .where(QUEUED, Run.status == RunStatus.created, Run.kind.in_(kinds))
            .where((Run.available_at.is_(None)) | (Run.available_at <= due_by))
            .where(~busy)
            .order_by(Run.created_at, Run.id)
            .limit(1)
            .with_for_update(skip_locked=True)
        )

    async def next_available_at(self, kinds: Collection[str], after: datetime) -> datetime | None:
        """When the earliest waiting run of ``kinds`` not yet due becomes due."""
        return await self.session.scalar(
            select(Run.available_at)
            .where(QUEUED, Run.status == RunStatus.created, Run.kind.in_(kinds))
            .where(Run.available_at > after)
            .order_by(Run.available_at)
            .limit(1)
        )

    async def renew(
        self, owner: str, run_ids: Collection[str], expires: datetime
    ) -> list[tuple[str, bool]]:
        """Move the expiry of the leases ``owner`` still holds on ``run_ids``; returns (run
        id, cancel requested) for each."""
        result = await self.session.execute(
            update(Run)
            .where(Run.id.in_(run_ids), Run.lease_owner == owner)
            .where(Run.status == RunStatus.running)
            .values(lease_expires_at=expires)
            .returning(Run.id, Run.cancel_requested)
            .execution_options(synchronize_session=False)
        )
        return [(run_id, bool(cancel)) for run_id, cancel in result]

    async def lock_lapsed(self, *, now: datetime, alive: str | None) -> Sequence[Run]:
        """Lock the running runs whose lease expired before ``now`` or, with ``alive``,
        every running run another owner holds."""
        stmt = select(Run).where(Run.status == RunStatus.running)
        if alive is None:
            stmt = stmt.where(Run.lease_expires_at < now)
        else:
            stmt = stmt.where((Run.lease_owner.is_(None)) | (Run.lease_owner != alive))
        return (await self.session.scalars(stmt.with_for_update(skip_locked=True))).all()

    async def has_waiting(self, agent_id: str, kind: str) -> bool:
        """Whether a run of ``kind`` is waiting (``created``) for ``agent_id``."""
        found = await self.session.scalar(
            select(Run.id).where(
                Run.agent_id == agent_id, Run.kind == kind, Run.status == RunStatus.created
            )
        )
        return found is not None

    async def expire_lease(self, run_id: str, owner: str, at: datetime) -> bool:
        """Make ``owner``'s lease on a running run expire at ``at``; False if not held."""
        result = await self.session.execute(
            update(Run)
            .where(Run.id == run_id, Run.lease_owner == owner)
            .where(Run.status == RunStatus.running)
            .values(lease_expires_at=at)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def save(self, run: Run, values: dict[str, Any]) -> None:
        """Write ``values`` to a run this transaction locked."""
        for key, value in values.items():
            setattr(run, key, value)
        await self.session.flush()

    async def forget_events(self, before: datetime) -> None:
        """Drop the stream events written before ``before``."""
        await self.session.execute(delete(RunEvent).where(RunEvent.created_at < before))

    async def unended(self, now: datetime) -> Active:
        """Count the queued and running runs by kind, in one statement (metrics)."""
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
        rows = (await self.session.execute(union_all(queued, running))).all()
        oldest = min((r.since for r in rows if r.since is not None), default=None)
        return Active([(r.kind, r.status, int(r.n)) for r in rows], oldest)

    async def stale(
        self, now: datetime, lease_seconds: float, queued_kinds: Collection[str]
    ) -> Stale:
        """Find the runs left waiting for longer than ``lease_seconds``, in one statement
        (readiness); ``queued_kinds``: the lifecycle's.

        A run waits since it became due: its ``available_at`` (a debounce) or its creation,
        or, once a reaper gave it back (``attempts`` > 0), its last update. A queued run whose
        thread (agent, conversation) holds a running run with a lease not lapsed over a lease
        ago waits its turn, as the dispatchers' claim does; it is not stale.
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
            select(func.count())
            .where(LEASED)
            .where(Run.lease_expires_at < cutoff)
            .scalar_subquery()
        )
        executing = exists().where(LEASED, Run.lease_expires_at >= now, Run.kind.in_(queued_kinds))
        row = (
            await self.session.execute(
                select(queued, unreaped.label("unreaped"), executing.label("x"))
            )
        ).one()
        return Stale(int(row[0]), row[1], int(row.unreaped), bool(row.x))


__all__ = ["ACTIVE", "ENDED", "Active", "Order", "RunQueue", "RunRepository", "Stale"]
