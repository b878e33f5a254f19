"""A run's times are taken once its transaction holds the database: a run is never started
before it was created, and a lease runs from when it is written, however long the wait for
a connection or the write lock was. The tests hold a transaction before it begins, let other
work commit meanwhile, then let it go: no timing luck involved."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.util import await_

from app.kit.db import Database, utcnow
from app.runs import lifecycle
from app.runs.models import Run
from tests.conftest import AppAndClient
from tests.helpers import create_agent, ok

LEASE = 30.0
AppMaker = Callable[..., Awaitable[AppAndClient]]


class CheckoutGate:
    """Holds the next connection taken from ``db``'s pool, before its transaction begins (so
    before SQLite's write lock is asked for), until ``released``; the event loop runs on."""

    def __init__(self, db: Database) -> None:
        self.pool = db.engine.sync_engine.pool
        self.held = asyncio.Event()
        self.released = asyncio.Event()
        self.armed = True

    def _on_checkout(self, *_: Any) -> None:
        if self.armed:
            self.armed = False
            self.held.set()
            await_(self.released.wait())

    @asynccontextmanager
    async def installed(self) -> AsyncIterator["CheckoutGate"]:
        event.listen(self.pool, "checkout", self._on_checkout)
        try:
            yield self
        finally:
            self.released.set()
            event.remove(self.pool, "checkout", self._on_checkout)


async def _queued_turn(make_app: AppMaker) -> str:
    """An async turn left waiting in the queue (this app runs no dispatcher)."""
    _, client = await make_app(dispatcher=False)
    agent = await create_agent(client)
    run = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": "x"}))
    return str(run["id"])


async def _claim(db: Database) -> Run | None:
    async with db.session() as session:
        return await lifecycle.claim(session, "test-owner", LEASE)


async def test_a_claim_that_waited_starts_the_run_after_it_was_created(
    make_app: AppMaker, db: Database
) -> None:
    async with CheckoutGate(db).installed() as gate:
        claiming = asyncio.create_task(_claim(db))
        await gate.held.wait()  # the claim has begun and waits for the database
        run_id = await _queued_turn(make_app)  # created and committed meanwhile
        gate.released.set()
        claimed = await claiming
    assert claimed is not None and claimed.id == run_id
    assert claimed.started_at is not None and claimed.lease_expires_at is not None
    assert claimed.started_at >= claimed.created_at
    assert claimed.lease_expires_at - claimed.started_at == timedelta(seconds=LEASE)


async def test_a_renewed_lease_runs_from_when_it_is_written(
    make_app: AppMaker, db: Database
) -> None:
    await _queued_turn(make_app)
    claimed = await _claim(db)
    assert claimed is not None
    async with CheckoutGate(db).installed() as gate:
        renewing = asyncio.create_task(_renew(db, claimed.id))
        await gate.held.wait()  # the renewal waits for the database
        waited_until = utcnow()
        gate.released.set()
        [(run_id, _)] = await renewing
    async with db.session(write=False) as session:
        run = await session.get(Run, run_id)
    assert run is not None and run.lease_expires_at is not None
    assert run.lease_expires_at >= waited_until + timedelta(seconds=LEASE)


async def _renew(db: Database, run_id: str) -> list[tuple[str, bool]]:
    async with db.session() as session:
        _, held = await lifecycle.renew(session, "test-owner", LEASE, [run_id])
        return held
