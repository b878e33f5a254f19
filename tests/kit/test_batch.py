"""Inserts held for the transaction's next statement (``app.kit.batch``): on PostgreSQL they
ride with the next write that can carry them, and are sent on their own before anything that
could need them (a read, Core or ORM work, the commit); a rollback drops them, and an error in
them fails the statement that carried them. On SQLite nothing is held."""

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    event,
    exc,
    select,
)
from sqlalchemy import update as sql_update

from app.auth.models import Organization
from app.kit import batch
from app.kit.db import Database
from app.kit.direct import Direct
from app.kit.repository import Repository
from tests.conftest import BACKEND
from tests.kit.tables import created

_META = MetaData()
_ONE = Table(
    "batch_one", _META, Column("id", Integer, primary_key=True), Column("name", String(32))
)
_TWO = Table("batch_two", _META, Column("id", Integer, primary_key=True), Column("one_id", Integer))
_ONES = batch.Insertion(_ONE, ("id", "name"))
_TWOS = batch.Insertion(_TWO, ("id", "one_id"))
_RENAME_ONE = Direct(
    sql_update(_ONE).where(_ONE.c.id == bindparam("b_id")).values(name=bindparam("v_name"))
)
_RENAME_TWO = Direct(
    sql_update(_TWO).where(_TWO.c.id == bindparam("b_id")).values(one_id=bindparam("v_one"))
)
_COUNT_ONES = Direct(select(_ONE.c.id).order_by(_ONE.c.id))
_ORG = "org-test"

postgresql_only = pytest.mark.skipif(BACKEND != "postgresql", reason="PostgreSQL holds inserts")


@pytest.fixture
async def tables(db: Database) -> AsyncIterator[Database]:
    async with created(db, _META) as made:
        yield made


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "batch_" in statement:
            seen.append(statement)

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def _hold(repo: Repository, insertion: batch.Insertion, *rows: dict[str, Any]) -> None:
    await repo.hold(insertion, rows)


async def _ones(db: Database) -> list[Any]:
    async with db.session(write=False) as session:
        return [r[0] for r in await Repository(session, _ORG).direct_rows(_COUNT_ONES, {})]


@postgresql_only
async def test_held_rows_ride_with_the_next_write_that_can_carry_them(tables: Database) -> None:
    with statements(tables) as seen:
        async with tables.session() as session:
            repo = Repository(session, _ORG)
            await _hold(repo, _ONES, {"id": 1, "name": "a"})
            await _hold(repo, _ONES, {"id": 2, "name": "b"})  # the same kind: one clause
            assert await repo.direct_count(_RENAME_TWO, {"b_id": 99, "v_one": 1}) == 0
    assert len(seen) == 1 and seen[0].startswith("WITH w0 AS")
    assert "w1" not in seen[0]
    assert await _ones(tables) == [1, 2]


@postgresql_only
async def test_what_is_held_at_the_commit_goes_in_one_statement(tables: Database) -> None:
    with statements(tables) as seen:
        async with tables.session() as session:
            repo = Repository(session, _ORG)
            await _hold(repo, _TWOS, {"id": 10, "one_id": 1})
            await _hold(repo, _ONES, {"id": 3, "name": "c"})
    assert len(seen) == 1 and seen[0].startswith("WITH w0 AS")
    assert await _ones(tables) == [3]


@postgresql_only
async def test_a_write_on_a_held_table_and_a_read_send_them_first(tables: Database) -> None:
    with statements(tables) as seen:
        async with tables.session() as session:
            repo = Repository(session, _ORG)
            await _hold(repo, _ONES, {"id": 1, "name": "a"})
            # The UPDATE would not see a row inserted beside it: the row goes first.
            assert await repo.direct_count(_RENAME_ONE, {"b_id": 1, "v_name": "z"}) == 1
            await _hold(repo, _ONES, {"id": 2, "name": "b"})
            assert [r[0] for r in await repo.direct_rows(_COUNT_ONES, {})] == [1, 2]
    assert [s.split()[0] for s in seen] == ["INSERT", "UPDATE", "INSERT", "SELECT"]


@postgresql_only
async def test_core_orm_and_the_commit_see_held_rows(tables: Database) -> None:
    async with tables.session() as session:
        repo = Repository(session, _ORG)
        await _hold(repo, _ONES, {"id": 1, "name": "a"})
        assert await session.scalar(select(_ONE.c.name).where(_ONE.c.id == 1)) == "a"  # ORM
        await _hold(repo, _ONES, {"id": 2, "name": "b"})
        assert (await repo.execute(select(_ONE.c.id), {})).all() == [(1,), (2,)]  # Core
        await _hold(repo, _ONES, {"id": 3, "name": "c"})  # sent at the commit
    assert await _ones(tables) == [1, 2, 3]
    session = tables._write()  # a session that commits by itself
    async with session:
        await _hold(Repository(session, _ORG), _ONES, {"id": 4, "name": "d"})
        await session.commit()
    assert await _ones(tables) == [1, 2, 3, 4]


@postgresql_only
async def test_a_rollback_drops_them_and_their_error_fails_the_carrier(tables: Database) -> None:
    class Abandoned(Exception):
        pass

    async def abandoned() -> None:
        async with tables.session() as session:
            await _hold(Repository(session, _ORG), _ONES, {"id": 1, "name": "a"})
            raise Abandoned

    with pytest.raises(Abandoned):
        await abandoned()
    assert await _ones(tables) == []
    session = tables._write()
    async with session:
        await _hold(Repository(session, _ORG), _ONES, {"id": 2, "name": "b"})
        await session.rollback()
        assert not session.info.get(batch.HELD)
        await session.commit()
    assert await _ones(tables) == []

    async def clashing() -> None:
        async with tables.session() as session:
            repo = Repository(session, _ORG)
            await _hold(repo, _ONES, {"id": 5, "name": "a"}, {"id": 5, "name": "again"})
            await repo.direct_count(_RENAME_TWO, {"b_id": 1, "v_one": 1})

    with pytest.raises(exc.IntegrityError):
        await clashing()
    assert await _ones(tables) == []


async def test_rows_asked_to_wait_wait_on_postgresql_only(db: Database) -> None:
    organization = Organization(id="org-batch-probe", name="batch probe")
    async with db.session() as session:
        repo = Repository(session, _ORG)
        await repo.insert_rows(Organization, [organization], later=True)
        assert bool(session.info.get(batch.HELD)) is (BACKEND == "postgresql")
        found = select(Organization.name).where(Organization.id == organization.id)
        assert await session.scalar(found) == "batch probe"
        assert organization.created_at is not None  # its default, filled in when held
    async with db.session() as session:
        await session.execute(delete(Organization).where(Organization.id == organization.id))


@postgresql_only
async def test_many_rows_are_not_held(tables: Database) -> None:
    over = [{"id": i, "name": f"n{i}"} for i in range(batch.MAX_ROWS + 1)]
    with statements(tables) as seen:
        async with tables.session() as session:
            repo = Repository(session, _ORG)
            await _hold(repo, _TWOS, {"id": 1, "one_id": 1})
            await _hold(repo, _ONES, *over)  # the held row first, then these at once
            assert not session.info.get(batch.HELD)
            for i in range(batch.MAX_ROWS):
                await _hold(repo, _TWOS, {"id": 100 + i, "one_id": i})
            assert batch.count(session.info) == batch.MAX_ROWS
            await _hold(repo, _TWOS, {"id": 999, "one_id": 0})  # one too many: all sent
            assert not session.info.get(batch.HELD)
    assert [s.split()[0] for s in seen] == ["INSERT", "INSERT", "INSERT"]
    assert "VALUES ($1::INTEGER, $2::VARCHAR)" in seen[1]  # one parameter set per row
    assert await _ones(tables) == list(range(batch.MAX_ROWS + 1))
