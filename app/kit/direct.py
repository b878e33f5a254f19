"""The statements of a turn, run on the database driver's own connection.

A turn runs about a dozen statements, and SQLAlchemy's Core spends more time on each of them
than the database does: a trip into its greenlet, the statement's cache key walked again,
an execution context, parameter processing, a result object with its metadata. For the few
statements every turn runs, that work is done once per dialect here instead: a ``Direct``
statement is compiled once, with the type processors SQLAlchemy would apply to each parameter
and each result column, and then each execution is a call on the driver's connection (asyncpg,
or aiosqlite through ``app.kit.sqlite_driver``) inside the transaction SQLAlchemy manages for
the session. The SQL text, the values sent and the values read back are the ones Core would
have produced; errors are translated into SQLAlchemy's exception classes as Core translates
them, and a connection the database dropped is invalidated as Core invalidates it.

Only plain statements take this path: no expanding ``IN`` parameters, no server-side cursors.
"""

import re
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import ClauseElement, Insert
from sqlalchemy.sql.base import Executable
from sqlalchemy.sql.compiler import SQLCompiler

from app.kit import sqlite_driver

Processor = Callable[[Any], Any]
Row = Sequence[Any]
_ROWCOUNT = re.compile(r"(?:SELECT|UPDATE|DELETE|INSERT \d+) (\d+)")
_REQUIRED = object()


@dataclass(frozen=True, slots=True)
class _Bind:
    key: str
    processor: Processor | None
    # The statement's own value for a parameter the caller does not give (a literal in the
    # statement), or a column's Python-side default (``make``); ``_REQUIRED`` for neither.
    value: Any
    make: Callable[[], Any] | None


@dataclass(frozen=True, slots=True)
class Plan:
    """One statement as one dialect runs it: its SQL, its parameters in order, and what to
    do with each column of its rows."""

    sql: str
    binds: tuple[_Bind, ...]
    results: tuple[Processor | None, ...]

    def args(self, params: Mapping[str, Any]) -> list[Any]:
        args: list[Any] = []
        for bind in self.binds:
            value = params.get(bind.key, _REQUIRED)
            if value is _REQUIRED:
                if bind.make is not None:
                    value = bind.make()
                elif bind.value is _REQUIRED:
                    raise sa_exc.InvalidRequestError(
                        f"a value is required for the parameter {bind.key!r}"
                    )
                else:
                    value = bind.value
            args.append(value if bind.processor is None else bind.processor(value))
        return args

    def rows(self, raw: Sequence[Row]) -> list[Row]:
        processors = self.results
        if not any(processors):
            return list(raw)
        return [
            tuple(v if p is None else p(v) for p, v in zip(processors, row, strict=True))
            for row in raw
        ]


def _plan(statement: ClauseElement, dialect: Dialect) -> Plan:
    compiled = statement.compile(dialect=dialect)
    if not isinstance(compiled, SQLCompiler):
        raise TypeError("a direct statement compiles to SQL")
    names = compiled.positiontup
    if names is None:
        raise TypeError(f"{dialect.name} does not take positional parameters")
    # Columns whose Python-side default Core computes when the caller gives no value: an
    # UPDATE's ``onupdate`` columns, and every column of a plain INSERT with a default.
    defaults = {c.key: c.onupdate for c in compiled.update_prefetch}
    defaults.update({c.key: c.default for c in compiled.insert_prefetch})
    if isinstance(statement, Insert):
        defaults.update({c.key: c.default for c in statement.table.c if c.default is not None})
    binds = []
    for name in names:
        bind = compiled.binds[name]
        if bind.expanding:
            raise TypeError(f"parameter {name!r} expands: not supported by a direct statement")
        make = _maker(defaults[name]) if name in defaults else None
        value = _REQUIRED if bind.required or bind.callable is not None else bind.value
        impl = bind.type.dialect_impl(dialect)
        binds.append(_Bind(bind.key, impl.bind_processor(dialect), value, make))
    results = tuple(
        entry.type.dialect_impl(dialect).result_processor(dialect, None)
        for entry in compiled._result_columns or ()
    )
    return Plan(compiled.string, tuple(binds), results)


def _maker(default: Any) -> Callable[[], Any]:
    if default is not None and default.is_scalar:
        value = default.arg
        return lambda: value
    if default is not None and default.is_callable:
        make = default.arg
        return lambda: make(None)
    raise TypeError("a column default a direct statement cannot compute (SQL or sequence)")


class Direct:
    """A Core statement run on the driver directly (see the module's docstring). Built
    once, at import; its plan is made per dialect on first use."""

    __slots__ = ("_dialect", "_plan", "_plans", "statement")

    def __init__(self, statement: Executable) -> None:
        if not isinstance(statement, ClauseElement):
            raise TypeError("a direct statement is a Core statement")
        self.statement = statement
        self._dialect: Dialect | None = None
        self._plan: Plan | None = None
        self._plans: weakref.WeakKeyDictionary[Dialect, Plan] = weakref.WeakKeyDictionary()

    def plan(self, dialect: Dialect) -> Plan:
        if dialect is self._dialect and self._plan is not None:
            return self._plan
        plan = self._plans.get(dialect)
        if plan is None:
            plan = self._plans[dialect] = _plan(self.statement, dialect)
        self._dialect, self._plan = dialect, plan
        return plan


class Driver(Protocol):
    async def fetch(self, sql: str, args: list[Any]) -> Sequence[Row]: ...

    async def execute(self, sql: str, args: list[Any]) -> int: ...

    async def executemany(self, sql: str, args: list[list[Any]]) -> None: ...


class _Asyncpg:
    """asyncpg under SQLAlchemy's adapter: the adapter's lock, and its transaction begun
    first as the adapter begins it (none in autocommit mode)."""

    __slots__ = ("_adapter", "_connection")

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter
        self._connection = adapter._connection

    async def _call(self, fn: Any, *args: Any) -> Any:
        async with self._adapter._execute_mutex:
            if self._adapter._transaction is None:
                await self._adapter._start_transaction()
            try:
                return await fn(*args)
            except Exception as error:  # translated as the adapter does, and raised
                self._adapter._handle_exception(error)
                raise

    async def fetch(self, sql: str, args: list[Any]) -> Sequence[Row]:
        rows: Sequence[Row] = await self._call(self._connection.fetch, sql, *args)
        return rows

    async def execute(self, sql: str, args: list[Any]) -> int:
        status = await self._call(self._connection.execute, sql, *args)
        found = _ROWCOUNT.match(status or "")
        return int(found.group(1)) if found else -1

    async def executemany(self, sql: str, args: list[list[Any]]) -> None:
        await self._call(self._connection.executemany, sql, args)


class _Sqlite:
    """aiosqlite with one trip to its thread per statement (``app.kit.sqlite_driver``); the
    transaction is the one SQLAlchemy began on the connection (``BEGIN`` is issued at once)."""

    __slots__ = ("_adapter",)

    def __init__(self, adapter: Any) -> None:
        self._adapter = adapter

    async def fetch(self, sql: str, args: list[Any]) -> Sequence[Row]:
        return (await sqlite_driver.run_on(self._adapter, sqlite_driver.execute_one, sql, args))[1]

    async def execute(self, sql: str, args: list[Any]) -> int:
        return (await sqlite_driver.run_on(self._adapter, sqlite_driver.execute_one, sql, args))[2]

    async def executemany(self, sql: str, args: list[list[Any]]) -> None:
        await sqlite_driver.run_on(self._adapter, sqlite_driver.execute_many, sql, args)


async def driver_of(connection: AsyncConnection) -> Driver:
    """The driver-level connection under ``connection``, for direct statements."""
    raw = await connection.get_raw_connection()
    adapter: Any = raw.dbapi_connection
    if connection.dialect.name == "sqlite":
        if not isinstance(adapter, sqlite_driver.OneTripConnection):
            raise TypeError("SQLite connections come from app.kit.sqlite_driver")
        return _Sqlite(adapter)
    if connection.dialect.driver != "asyncpg":
        raise TypeError(f"no direct statements on {connection.dialect.driver}")
    return _Asyncpg(adapter)


async def translated(
    connection: AsyncConnection, plan: Plan, args: Any, error: Exception
) -> Exception:
    """``error`` as Core would raise it: a DBAPI error wrapped in SQLAlchemy's class for it,
    with the connection invalidated when the database dropped it."""
    dialect = connection.dialect
    dbapi = dialect.loaded_dbapi
    if not isinstance(error, dbapi.Error):
        return error
    raw = await connection.get_raw_connection()
    dropped = dialect.is_disconnect(error, raw.dbapi_connection, None)
    wrapped = sa_exc.DBAPIError.instance(
        plan.sql,
        args,
        error,
        dbapi.Error,
        connection_invalidated=dropped,
        dialect=dialect,
    )
    if dropped:
        await connection.invalidate(error)
    return wrapped
