"""``/readyz`` of the API says when queued runs wait with no process executing them: runs
left waiting longer than a lease, or lapsed leases nobody reaps. The clock is moved in the
database (runs backdated), never waited for."""

import asyncio
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from app.kit.db import Database, utcnow
from app.runs.models import Run
from tests.helpers import create_agent, ok
from tests.observability.helpers import backdate, insert_run, lapsed
from tests.sleeptime.test_sleeptime_runs import AppMaker

LEASE = 30.0


async def _ready(client: httpx.AsyncClient, status: int) -> dict[str, Any]:
    response = await client.get("/readyz")
    assert response.status_code == status, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_queued_runs_nothing_executes(make_app: AppMaker) -> None:
    app, client = await make_app(dispatcher=False, lease_seconds=LEASE)
    db: Database = app.state.db
    agent, other = await create_agent(client, name="a"), await create_agent(client, name="b")
    queued = await ok(
        client.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": "later"})
    )
    fresh = await _ready(client, 200)
    assert fresh["queue"] == {"stuck_runs": 0, "oldest_waiting_seconds": 0.0, "executing": False}

    await backdate(db, queued["id"], LEASE + 60)
    stuck = await _ready(client, 503)
    assert stuck["status"] == "unavailable"
    assert stuck["queue"]["stuck_runs"] == 1
    assert stuck["queue"]["oldest_waiting_seconds"] >= LEASE + 60
    [reason] = stuck["reasons"]
    assert "1 run(s) have waited longer than the lease (30 s)" in reason
    assert "sleeptime worker" in reason

    # A dispatcher busy with another run is executing: the queue waits its turn.
    live = {"status": "running", "lease_owner": "busy:1:x", "attempts": 1}
    busy = await insert_run(
        db, other["id"], lease_expires_at=utcnow() + timedelta(seconds=LEASE), **live
    )
    assert (await _ready(client, 200))["queue"]["executing"] is True
    await _end(db, busy)
    await _ready(client, 503)

    # A dispatching process takes the run: ready again.
    worker, _ = await make_app(lease_seconds=LEASE)
    await asyncio.wait_for(worker.state.runtime.dispatcher.settled(), 30)
    assert (await _ready(client, 200))["queue"]["stuck_runs"] == 0


async def test_a_run_waiting_behind_its_threads_live_run_is_not_stuck(make_app: AppMaker) -> None:
    app, client = await make_app(dispatcher=False, lease_seconds=LEASE)
    db: Database = app.state.db
    agent = await create_agent(client)
    queued = await insert_run(db, agent["id"], kind="sleeptime")
    await backdate(db, queued, LEASE + 60)
    turn = {"status": "running", "lease_owner": "api:1:x", "attempts": 1, "kind": "foreground"}
    holder = await insert_run(
        db, agent["id"], lease_expires_at=utcnow() + timedelta(seconds=5), **turn
    )
    assert (await _ready(client, 200))["queue"]["stuck_runs"] == 0
    await _end(db, holder)
    assert (await _ready(client, 503))["queue"]["stuck_runs"] == 1


async def test_lapsed_leases_nobody_reaps(make_app: AppMaker) -> None:
    app, client = await make_app(dispatcher=False, lease_seconds=LEASE)
    db: Database = app.state.db
    agent = await create_agent(client)
    # Lapsed for less than a lease: a live reaper would settle it within its period.
    run = await insert_run(db, agent["id"], kind="foreground", **lapsed(5))
    await _ready(client, 200)
    async with db.session() as session:
        at = utcnow() - timedelta(seconds=LEASE + 5)
        await session.execute(update(Run).where(Run.id == run).values(lease_expires_at=at))
    stuck = await _ready(client, 503)
    assert stuck["queue"]["stuck_runs"] == 1
    assert "no process executing them" in stuck["reasons"][0]


async def _end(db: Database, run_id: str) -> None:
    async with db.session() as session:
        values = {"status": "completed", "lease_owner": None, "lease_expires_at": None}
        await session.execute(update(Run).where(Run.id == run_id).values(values))
