"""The run lifecycle's transitions on a queued run, driven directly: claim, retry (fenced on
the lease owner), and the reaper's settlement until the attempts run out."""

from collections.abc import Awaitable, Callable

from sqlalchemy import update

from app.kit.db import Database, utcnow
from app.runs import lifecycle
from app.runs.models import Run
from app.runs.states import RunStatus
from tests.conftest import AppAndClient
from tests.helpers import create_agent, ok

AppMaker = Callable[..., Awaitable[AppAndClient]]
OWNER = "gone:1:dead"


async def _queued_turn(make_app: AppMaker) -> str:
    _, client = await make_app(dispatcher=False)
    agent = await create_agent(client)
    run = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": "x"}))
    return str(run["id"])


async def _claim_and_lapse(db: Database, run_id: str) -> None:
    async with db.session() as session:
        claimed = await lifecycle.claim(session, OWNER, 30)
        assert claimed is not None and claimed.id == run_id
        assert claimed.status == RunStatus.running
    async with db.session() as session:
        await session.execute(update(Run).where(Run.id == run_id).values(lease_expires_at=utcnow()))


async def _reap(db: Database) -> list[tuple[str, str]]:
    async with db.session() as session:
        reaped = await lifecycle.reap(session, max_attempts=2)
        return [(r.id, r.status) for r in reaped]


async def test_a_lapsed_queued_run_is_requeued_until_its_attempts_run_out(
    make_app: AppMaker, db: Database
) -> None:
    run_id = await _queued_turn(make_app)
    await _claim_and_lapse(db, run_id)
    assert await _reap(db) == [(run_id, RunStatus.created)]
    await _claim_and_lapse(db, run_id)
    assert await _reap(db) == [(run_id, RunStatus.failed)]
    async with db.session(write=False) as session:
        run = await session.get(Run, run_id)
    assert run is not None and run.attempts == 2 and run.lease_owner is None
    assert run.error == {"type": "max_attempts", "message": "gave up after 2 attempts"}


async def test_only_the_lease_owner_gives_a_run_back(make_app: AppMaker, db: Database) -> None:
    run_id = await _queued_turn(make_app)
    async with db.session() as session:
        assert await lifecycle.claim(session, OWNER, 30) is not None
    async with db.session() as session:
        assert not await lifecycle.retry(session, run_id, "someone:else:1")
    assert await _reap(db) == []  # its lease still runs
    async with db.session() as session:
        assert await lifecycle.retry(session, run_id, OWNER)
    assert await _reap(db) == [(run_id, RunStatus.created)]
