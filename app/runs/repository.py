from collections.abc import Sequence
from functools import cache
from typing import Any

from sqlalchemy import Select, Update, bindparam, func, inspect, select, update

from app.kit.db import utcnow
from app.kit.pagination import Order, PageParams, paginate
from app.kit.repository import Repository, table_of
from app.runs.models import Run, RunEvent, Step

ACTIVE = ("created", "running")
ENDED = ("completed", "failed", "cancelled")

_RUNS = table_of(Run)
_INSERT_EVENTS = table_of(RunEvent).insert()


@cache
def _finish(columns: tuple[str, ...]) -> Update:
    """The fenced end of a run, setting the run attributes ``columns`` (built once per set)."""
    mapped = inspect(Run).column_attrs
    values: dict[str, Any] = {
        mapped[attr].columns[0].key: bindparam(f"v_{attr}", type_=mapped[attr].columns[0].type)
        for attr in (*columns, "updated_at")
    }
    values.update(lease_owner=None, lease_expires_at=None)
    return (
        update(_RUNS)
        .where(_RUNS.c.id == bindparam("b_run"), _RUNS.c.organization_id == bindparam("b_org"))
        .where(_RUNS.c.status == "running", _RUNS.c.lease_owner == bindparam("b_owner"))
        .values(values)
    )


class RunRepository(Repository):
    """Every run and step query, scoped to one organization."""

    async def insert(self, run: Run) -> None:
        """Store a new run now, in one statement (it stays out of the session)."""
        await self.insert_rows(Run, [run])

    async def insert_step(self, step: Step) -> None:
        await self.insert_rows(Step, [step])

    async def insert_events(self, run_id: str, events: Sequence[tuple[int, str]]) -> None:
        """Keep a run's numbered stream events (``(seq, payload)``), in one statement."""
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
        await self.execute(_INSERT_EVENTS, rows[0] if len(rows) == 1 else rows)

    def _scoped(self) -> Select[Run]:
        return select(Run).where(Run.organization_id == self.organization_id)

    async def get(self, run_id: str, *, for_update: bool = False) -> Run | None:
        stmt = self._scoped().where(Run.id == run_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

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
    ) -> Sequence[Run]:
        stmt = self._scoped()
        if agent_ids:
            stmt = stmt.where(Run.agent_id.in_(agent_ids))
        if statuses:
            stmt = stmt.where(Run.status.in_(statuses))
        if background is not None:
            stmt = stmt.where(Run.background.is_(background))
        if stop_reason is not None:
            stmt = stmt.where(Run.stop_reason == stop_reason)
        return await paginate(
            self.session, stmt, entity=Run, organization_id=self.organization_id, params=params
        )

    async def active_turns(self, agent_id: str) -> Sequence[Run]:
        stmt = self._scoped().where(
            Run.agent_id == agent_id, Run.status.in_(ACTIVE), Run.kind.in_(("foreground", "async"))
        )
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

    async def finish(self, run_id: str, *, owner: str, **values: Any) -> bool:
        """End a running run held by ``owner``; False if it is not (anymore): someone else
        took its lease over, or a cancel already ended it."""
        params: dict[str, Any] = {"b_run": run_id, "b_org": self.organization_id, "b_owner": owner}
        params.update({f"v_{k}": v for k, v in values.items()}, v_updated_at=utcnow())
        return await self.rowcount(_finish(tuple(sorted(values))), params) > 0

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


__all__ = ["ACTIVE", "ENDED", "Order", "RunRepository"]
