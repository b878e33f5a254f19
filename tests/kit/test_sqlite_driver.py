"""SQLite's one-trip cursor answers as a DB-API cursor does: rows, counts, ``RETURNING``,
``fetchmany`` without a size, and errors that leave the connection usable."""

import pytest
from sqlalchemy import exc, text

from app.kit.db import Database
from app.kit.sqlite_driver import OneTripCursor
from tests.conftest import BACKEND

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's driver")


async def test_the_cursor_answers_as_a_dbapi_cursor(db: Database) -> None:
    async with db.engine.connect() as conn:
        raw = (await conn.get_raw_connection()).dbapi_connection
        assert isinstance(raw.cursor(), OneTripCursor)
        await conn.execute(text("CREATE TEMP TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
        added = await conn.execute(
            text("INSERT INTO t (v) VALUES ('a'), ('b'), ('c') RETURNING id, v")
        )
        assert [tuple(r) for r in added] == [(1, "a"), (2, "b"), (3, "c")]
        changed = await conn.execute(text("UPDATE t SET v = v || '!' WHERE id > 1"))
        assert changed.rowcount == 2
        rows = await conn.execute(text("SELECT v FROM t ORDER BY id"))
        assert rows.fetchmany() == [("a",)]  # sqlite3's default array size: one row
        assert rows.fetchall() == [("b!",), ("c!",)]
        with pytest.raises(exc.IntegrityError):
            await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert (await conn.scalar(text("SELECT count(*) FROM t"))) == 3
        await conn.execute(text("DROP TABLE t"))
