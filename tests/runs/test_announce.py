"""On PostgreSQL the statements that write a run's stream events and end it also tell the
other processes (``pg_notify`` in the same statement): once per run and transaction, at
commit, and not at all for an end the lease fence refused or a transaction rolled back."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.kit import dialect
from app.kit.db import Database
from app.runs import lifecycle
from app.runs.models import Run
from app.runs.repository import RunRepository
from app.runs.states import StopReason
from tests.conftest import BACKEND, AppAndClient
from tests.helpers import create_agent, ok

pytestmark = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's notifications")

AppMaker = Callable[..., Awaitable[AppAndClient]]
OWNER = "test:1:owner"
FENCE = "fence"  # a payload sent last, to know every notification before it has arrived


@dataclass(eq=False)  # hashable: asyncpg keeps its listeners in a set
class Heard:
    received: list[tuple[str, str]] = field(default_factory=list)
    arrived: asyncio.Queue[str] = field(default_factory=asyncio.Queue)

    def __call__(self, _conn: Any, _pid: int, channel: str, payload: str) -> None:
        self.received.append((channel, payload))
        self.arrived.put_nowait(payload)

    async def until_fence(self, db: Database) -> list[tuple[str, str]]:
        """Everything heard before a fence notification sent now (delivered in order)."""
        async with db.session() as session:
            await session.execute(
                text("SELECT pg_notify(:c, :p)"), {"c": dialect.DONE_CHANNEL, "p": FENCE}
            )
        while await asyncio.wait_for(self.arrived.get(), 30) != FENCE:
            pass
        heard = [r for r in self.received if r[1] != FENCE]
        self.received.clear()
        return heard


@pytest.fixture
async def heard(database_url: str) -> AsyncIterator[Heard]:
    url = make_url(database_url).set(drivername="postgresql")
    listener = await asyncpg.connect(url.render_as_string(hide_password=False))
    found = Heard()
    for channel in (dialect.DONE_CHANNEL, dialect.EVENTS_CHANNEL):
        await listener.add_listener(channel, found)
    try:
        yield found
    finally:
        await listener.close()


async def _running(make_app: AppMaker, db: Database) -> Run:
    _, client = await make_app(dispatcher=False)
    agent = await create_agent(client)
    queued = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": "x"}))
    async with db.session() as session:
        run = await lifecycle.claim(session, OWNER, 60)
    assert run is not None and run.id == queued["id"]
    return run


async def _end(db: Database, run: Run, owner: str) -> None:
    async with db.session() as session:
        repo = RunRepository(session, run.organization_id)
        await repo.insert_events(run.id, [(1, '{"a":1}'), (2, '{"b":2}')])
        await repo.insert_events(run.id, [(3, '{"c":3}')])
        await lifecycle.finish(
            session, run, owner=owner, stop_reason=StopReason.end_turn, duration_ns=1
        )


async def test_events_and_the_end_are_announced_once_at_commit(
    make_app: AppMaker, db: Database, heard: Heard
) -> None:
    run = await _running(make_app, db)
    await heard.until_fence(db)  # whatever the claim announced
    await _end(db, run, OWNER)
    assert sorted(await heard.until_fence(db)) == sorted(
        [(dialect.EVENTS_CHANNEL, run.id), (dialect.DONE_CHANNEL, run.id)]
    )


async def test_a_refused_end_and_a_rollback_announce_nothing(
    make_app: AppMaker, db: Database, heard: Heard
) -> None:
    run = await _running(make_app, db)
    await heard.until_fence(db)
    with pytest.raises(lifecycle.LeaseLostError):
        await _end(db, run, "someone:else:2")
    assert await heard.until_fence(db) == []
    async with db.session() as session:
        assert not await RunRepository(session, run.organization_id).finish(
            run.id, owner="someone:else:2", status="completed"
        )
    assert await heard.until_fence(db) == []
