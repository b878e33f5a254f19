"""Units of work: a write session is one transaction; a read session on PostgreSQL runs its
statements outside a transaction block (no BEGIN and COMMIT round trips), on SQLite inside
one (its snapshot); a connection a read session used goes back to transactions after it."""

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.db import Database
from tests.conftest import BACKEND


async def _in_transaction(session: AsyncSession) -> bool:
    """Whether the driver's connection is inside a transaction block now."""
    await session.execute(text("SELECT 1"))
    raw: Any = (await (await session.connection()).get_raw_connection()).driver_connection
    if BACKEND == "postgresql":
        return bool(raw.is_in_transaction())
    return bool(raw.in_transaction)


async def _names(db: Database) -> list[str]:
    async with db.session(write=False) as session:
        rows = await session.execute(
            text("SELECT name FROM organizations WHERE name LIKE 'unit-of-work-%'")
        )
        return [row.name for row in rows]


async def test_a_read_runs_outside_a_transaction_block_only_on_postgresql(db: Database) -> None:
    async with db.session(write=False) as session:
        assert await _in_transaction(session) is (BACKEND == "sqlite")
    async with db.session() as session:
        assert await _in_transaction(session)


async def test_a_write_after_a_read_is_still_one_transaction(db: Database) -> None:
    for _ in range(3):  # whichever pooled connection the reads left behind
        async with db.session(write=False) as session:
            await session.execute(text("SELECT 1"))
    insert = text(
        "INSERT INTO organizations (id, name, created_at) VALUES (:id, :name, CURRENT_TIMESTAMP)"
    )

    async def abandoned() -> None:
        async with db.session() as session:
            assert await _in_transaction(session)
            await session.execute(insert, {"id": "org-uow-1", "name": "unit-of-work-1"})
            raise RuntimeError("abandoned")

    with pytest.raises(RuntimeError, match="abandoned"):
        await abandoned()
    assert await _names(db) == []
    async with db.session() as session:
        await session.execute(insert, {"id": "org-uow-2", "name": "unit-of-work-2"})
    assert await _names(db) == ["unit-of-work-2"]
