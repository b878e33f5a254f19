"""SQLite through aiosqlite with one trip to its thread per statement.

aiosqlite runs each call on the connection's own thread and hands the result back to the event
loop. SQLAlchemy's adapter makes four such calls for a statement (open a cursor, execute,
fetch the rows, close the cursor), and every one of them wakes the loop. Here a statement's
cursor is opened, executed, read and closed in one function on that thread: the same calls
on the same ``sqlite3`` connection, in the same order, with one hand-over instead of four.
Server-side cursors (``stream``) keep SQLAlchemy's adapter; transactions, the connection's
set-up and its closing are unchanged.
"""

import sqlite3
from collections import deque
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT

Description = tuple[tuple[Any, ...], ...] | None


def execute_one(
    conn: sqlite3.Connection, operation: str, parameters: Any
) -> tuple[Description, list[Any], int, int | None]:
    """On the connection's thread: the statement run, its rows read, its cursor closed."""
    cursor = conn.cursor()
    try:
        if parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


def execute_many(
    conn: sqlite3.Connection, operation: str, seq_of_parameters: Any
) -> tuple[Description, list[Any], int, int | None]:
    cursor = conn.cursor()
    try:
        cursor.executemany(operation, seq_of_parameters)
        return cursor.description, [], cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A cursor that holds a finished statement's description, rows and counts; it keeps no
    aiosqlite cursor open between statements, so closing it costs no trip."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")
    _awaitable_cursor_close = False

    def __init__(self, adapt_connection: Any) -> None:  # no cursor opened in advance
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # (closing skips a cursor of None)
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = deque()
        self._description: Description = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1  # sqlite3's default: what ``fetchmany()`` takes without a size

    @property
    def description(self) -> Description:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    @property
    def lastrowid(self) -> int | None:  # type: ignore[override]
        return self._lastrowid

    async def _async_soft_close(self) -> None:
        return None

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(execute_one, operation, parameters)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Any) -> None:
        await self._run(execute_many, operation, seq_of_parameters)

    async def _run(self, fn: Any, operation: Any, parameters: Any) -> None:
        found = await run_on(self._adapt_connection, fn, operation, parameters)
        self._description, rows, self._rowcount, self._lastrowid = found
        self._rows = deque(rows)


async def run_on(
    adapted: Any, fn: Any, operation: str, parameters: Any
) -> tuple[Description, list[Any], int, int | None]:
    """``fn`` (``execute_one`` or ``execute_many``) on the connection's thread, one trip,
    while the adapted connection's lock is held."""
    connection = adapted._connection
    async with adapted._execute_mutex:
        return await connection._execute(fn, connection._conn, operation, parameters)  # type: ignore[no-any-return]


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """aiosqlite as SQLAlchemy adapts it, with ``OneTripConnection``s."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        adapted = super().connect(*arg, **kw)
        return OneTripConnection(self, adapted._connection)


def dbapi() -> OneTripDBAPI:
    import aiosqlite  # noqa: PLC0415 (loaded with the engine, as the dialect loads it)

    return OneTripDBAPI(aiosqlite, sqlite3)
