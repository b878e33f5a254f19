"""Direct statements (``app.kit.direct``) write and read what Core would, inside the session's
transaction, and fail as Core fails."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    event,
    exc,
    insert,
    select,
    text,
    update,
)

from app.kit.db import Database, JSONType, UTCDateTime, utcnow
from app.kit.direct import Direct
from app.kit.repository import Repository
from tests.conftest import BACKEND
from tests.kit.tables import created

_META = MetaData()
_PROBE = Table(
    "direct_probe",
    _META,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(64), nullable=False),
    Column("at", UTCDateTime(), nullable=True),
    Column("doc", JSONType, nullable=True),
    Column("flag", Boolean, nullable=False, default=False),
    Column("updated_at", UTCDateTime(), default=utcnow, onupdate=utcnow),
)
_COLUMNS = [c for c in _PROBE.c]
_INSERT = Direct(_PROBE.insert())
_SELECT = Direct(select(*_COLUMNS).where(_PROBE.c.id == bindparam("b_id")))
_RENAME = Direct(
    update(_PROBE).where(_PROBE.c.id == bindparam("b_id")).values(name=bindparam("v_name"))
)
_FLAGGED = Direct(update(_PROBE).where(_PROBE.c.id == bindparam("b_id")).values(flag=True))
_ORG = "org-test"  # the repository's scope; the probe table has none


@pytest.fixture
async def probe(db: Database) -> AsyncIterator[Database]:
    async with created(db, _META) as made:
        yield made


def _row(row_id: int, **values: Any) -> dict[str, Any]:
    at = datetime(2026, 11, 30, 7, 45, 1, 123456, tzinfo=UTC)
    doc = {"text": "caf\u00e9 \u2615 and \x00", "n": [1, 2.5, None, True], "big": 2**70}
    base = {"id": row_id, "name": "probe", "at": at, "doc": doc, "flag": True}
    base.update(updated_at=at)
    base.update(values)
    return base


async def test_values_round_trip_as_core_writes_and_reads_them(probe: Database) -> None:
    written = _row(1)
    async with probe.session() as session:
        repo = Repository(session, _ORG)
        await repo.direct_many(_INSERT, [written])
        await session.execute(insert(_PROBE), _row(2, at=datetime(2001, 1, 1, tzinfo=UTC)))
    async with probe.session(write=False) as session:
        repo = Repository(session, _ORG)
        for row_id in (1, 2):
            direct = await repo.direct_rows(_SELECT, {"b_id": row_id})
            core = (await session.execute(select(*_COLUMNS).where(_PROBE.c.id == row_id))).all()
            assert [tuple(r) for r in core] == direct
    assert direct[0][2] == datetime(2001, 1, 1, tzinfo=UTC)
    assert (await _read(probe, 1)) == tuple(written[c.key] for c in _COLUMNS)


async def test_a_row_several_rows_and_nulls(probe: Database) -> None:
    async with probe.session() as session:
        repo = Repository(session, _ORG)
        await repo.direct_many(_INSERT, [_row(i, at=None, doc=None) for i in (1, 2, 3)])
    row = await _read(probe, 3)
    assert row[2] is None and row[3] is None and row[4] is True


async def test_defaults_are_filled_in_as_core_fills_them(probe: Database) -> None:
    before = utcnow()
    async with probe.session() as session:
        repo = Repository(session, _ORG)
        written = _row(1)
        del written["flag"], written["updated_at"]
        await repo.direct_many(_INSERT, [written])
    inserted = await _read(probe, 1)
    assert inserted[4] is False and inserted[5] >= before
    async with probe.session() as session:
        repo = Repository(session, _ORG)
        assert await repo.direct_count(_RENAME, {"b_id": 1, "v_name": "renamed"}) == 1
        assert await repo.direct_count(_RENAME, {"b_id": 99, "v_name": "nobody"}) == 0
        assert await repo.direct_count(_FLAGGED, {"b_id": 1}) == 1
    renamed = await _read(probe, 1)
    assert renamed[1] == "renamed" and renamed[4] is True  # the statement's own value
    assert renamed[5] >= inserted[5]  # the column's onupdate


async def test_a_missing_parameter_is_refused_before_anything_runs(probe: Database) -> None:
    async with probe.session() as session:
        repo = Repository(session, _ORG)
        with pytest.raises(exc.InvalidRequestError, match="v_name"):
            await repo.direct_count(_RENAME, {"b_id": 1})


def test_only_plain_statements_go_direct(db: Database) -> None:
    expanding = Direct(
        select(_PROBE.c.id).where(_PROBE.c.id.in_(bindparam("b_ids", expanding=True)))
    )
    with pytest.raises(TypeError, match="expands"):
        expanding.plan(db.engine.dialect)


@pytest.mark.parametrize("first", [True, False])
async def test_statements_run_in_the_sessions_transaction(probe: Database, first: bool) -> None:
    """Whether a direct statement is the transaction's first (PostgreSQL's adapter begins
    lazily) or follows Core's, a rollback takes it back and the transaction sees it."""

    class Abandoned(Exception):
        pass

    seen: list[str | None] = []

    async def abandoned() -> None:
        async with probe.session() as session:
            repo = Repository(session, _ORG)
            if not first:
                await session.execute(text("SELECT 1"))
            await repo.direct_many(_INSERT, [_row(1)])
            seen.append(await session.scalar(select(_PROBE.c.name).where(_PROBE.c.id == 1)))
            raise Abandoned

    with pytest.raises(Abandoned):
        await abandoned()
    assert seen == ["probe"]
    async with probe.session(write=False) as session:
        assert await Repository(session, _ORG).direct_rows(_SELECT, {"b_id": 1}) == []


async def test_errors_are_core_errors_and_leave_the_session_usable(probe: Database) -> None:
    async with probe.session() as session:
        await Repository(session, _ORG).direct_many(_INSERT, [_row(1)])
    with pytest.raises(exc.IntegrityError) as caught:
        async with probe.session() as session:
            await Repository(session, _ORG).direct_many(_INSERT, [_row(1)])
    assert "direct_probe" in str(caught.value.statement)
    with pytest.raises(exc.IntegrityError):
        async with probe.session() as session:
            await Repository(session, _ORG).direct_many(_INSERT, [_row(2), _row(2)])
    async with probe.session() as session:
        repo = Repository(session, _ORG)
        await repo.direct_many(_INSERT, [_row(3)])
    assert (await _read(probe, 3))[0] == 3
    assert await _read(probe, 2) is None


async def test_listeners_see_direct_statements(probe: Database) -> None:
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    engine = probe.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        async with probe.session() as session:
            repo = Repository(session, _ORG)
            await repo.direct_many(_INSERT, [_row(1), _row(2)])
            await repo.direct_count(_RENAME, {"b_id": 1, "v_name": "seen"})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    statements = [s for s, _ in seen if "direct_probe" in s]
    assert len(statements) == 2
    assert statements[0].startswith("INSERT INTO direct_probe")
    assert statements[1].startswith("UPDATE direct_probe")
    assert [p[0] for p in seen[-2][1]] == [1, 2]  # executemany: one parameter set per row


@pytest.mark.skipif(BACKEND != "postgresql", reason="a server that drops the connection")
async def test_a_dropped_connection_is_invalidated_as_core_invalidates_it(
    probe: Database,
) -> None:
    async def dropped() -> None:
        async with probe.session() as session:
            repo = Repository(session, _ORG)
            pid = await session.scalar(text("SELECT pg_backend_pid()"))
            async with probe.engine.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            await repo.direct_many(_INSERT, [_row(1)])

    with pytest.raises(exc.DBAPIError) as caught:
        await dropped()
    assert caught.value.connection_invalidated
    async with probe.session() as session:
        await Repository(session, _ORG).direct_many(_INSERT, [_row(2)])
    assert (await _read(probe, 2))[0] == 2


async def _read(db: Database, row_id: int) -> tuple[Any, ...] | None:
    async with db.session(write=False) as session:
        rows = await Repository(session, _ORG).direct_rows(_SELECT, {"b_id": row_id})
    return tuple(rows[0]) if rows else None
