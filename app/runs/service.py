import asyncio
import time
from collections.abc import Sequence
from contextlib import suppress

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.deps import Actor
from app.kit.db import Database
from app.kit.errors import Conflict, NotFound
from app.kit.pagination import PageParams
from app.runs.control import RunControl
from app.runs.models import Run, Step
from app.runs.repository import RunRepository
from app.runs.states import ACTIVE, ENDED


async def get(session: AsyncSession, actor: Actor, run_id: str) -> Run:
    run = await RunRepository(session, actor.organization_id).get(run_id)
    if run is None:
        raise NotFound(f"Run {run_id} not found")
    return run


async def wait_for_end(
    db: Database, control: RunControl, actor: Actor, run_id: str, seconds: float
) -> Run:
    """The run, once it has ended or ``seconds`` have passed. Ends are signalled in memory
    by this process and, on PostgreSQL, by every other one."""
    deadline = time.monotonic() + seconds
    ended = control.watch(run_id)
    try:
        while True:
            async with db.session(write=False) as session:
                run = await get(session, actor, run_id)
            remaining = deadline - time.monotonic()
            if run.status in ENDED or remaining <= 0:
                return run
            with suppress(TimeoutError):
                await asyncio.wait_for(ended.wait(), remaining)
            ended.clear()
    finally:
        control.unwatch(run_id, ended)


async def list_runs(
    session: AsyncSession,
    actor: Actor,
    params: PageParams,
    *,
    agent_ids: Sequence[str],
    statuses: Sequence[str],
    active: bool,
    background: bool | None,
    stop_reason: str | None,
    conversation_id: str | None = None,
) -> Sequence[Run]:
    if active:
        statuses = [s for s in statuses if s in ACTIVE] if statuses else list(ACTIVE)
    return await RunRepository(session, actor.organization_id).list_page(
        params,
        agent_ids=agent_ids,
        statuses=statuses,
        background=background,
        stop_reason=stop_reason,
        conversation_id=conversation_id,
    )


async def steps(
    session: AsyncSession, actor: Actor, run_id: str, params: PageParams
) -> Sequence[Step]:
    await get(session, actor, run_id)
    return await RunRepository(session, actor.organization_id).steps(run_id, params)


async def usage(session: AsyncSession, actor: Actor, run_id: str) -> tuple[int, int, int]:
    await get(session, actor, run_id)
    return await RunRepository(session, actor.organization_id).usage(run_id)


async def delete(session: AsyncSession, actor: Actor, run_id: str) -> None:
    repo = RunRepository(session, actor.organization_id)
    run = await repo.get(run_id, for_update=True)
    if run is None:
        raise NotFound(f"Run {run_id} not found")
    if run.status in ACTIVE:
        raise Conflict(f"Run {run_id} is still {run.status}; cancel it before deleting it")
    await repo.delete(run)
