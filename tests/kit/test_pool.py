"""Pooled PostgreSQL connections that the server ended are replaced at checkout, without a
ping per checkout: a request after a server restart does not fail on a dead connection."""

import asyncio
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.kit import dialect
from app.kit.db import Database
from tests.conftest import BACKEND, _admin_execute

pytestmark = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL's connection pool")

_TERMINATE = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = '{name}' AND pid <> pg_backend_pid()"
)


async def _pooled(db: Database) -> tuple[Any, asyncio.Event]:
    """The driver connection the pool holds (after one use), and an event set when the
    server ends it."""
    ended = asyncio.Event()
    async with db.engine.connect() as conn:
        await conn.execute(text("SELECT 1"))
        raw = (await conn.get_raw_connection()).driver_connection
        assert raw is not None
        raw.add_termination_listener(lambda _conn: ended.set())
    return raw, ended


async def _backend_pid(db: Database) -> int:
    async with db.session() as session:
        return int(await session.scalar(text("SELECT pg_backend_pid()")) or 0)


async def test_a_connection_the_server_ended_is_replaced(database_url: str) -> None:
    db = Database(database_url)
    try:
        raw, ended = await _pooled(db)
        before = await _backend_pid(db)
        await _admin_execute(_TERMINATE.format(name=make_url(database_url).database))
        await asyncio.wait_for(ended.wait(), 30)
        assert raw.is_closed()
        assert await _backend_pid(db) != before  # a new connection, no error
    finally:
        await db.dispose()


async def test_a_long_idle_connection_is_pinged(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(database_url)
    pings: list[object] = []
    real_ping = db.engine.dialect.do_ping

    def failing_ping(dbapi_connection: Any) -> bool:
        pings.append(dbapi_connection)
        real_ping(dbapi_connection)
        raise db.engine.dialect.loaded_dbapi.OperationalError("the network dropped it")

    try:
        before = await _backend_pid(db)
        monkeypatch.setattr(db.engine.dialect, "do_ping", failing_ping)
        assert await _backend_pid(db) == before  # used lately: no ping
        assert pings == []
        monkeypatch.setattr(dialect, "IDLE_PING_SECONDS", -1.0)
        assert await _backend_pid(db) != before  # pinged, failed, replaced
        assert len(pings) == 1
    finally:
        await db.dispose()
