"""Everything that differs between SQLite and PostgreSQL lives here, and only here."""

import fcntl
import os
import time
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Insert, Table, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, create_async_engine
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry

from app.kit import sqlite_driver
from app.kit.storable import dumps, loads

_IMMEDIATE = "sleeptime_sqlite_immediate"
# Seconds to wait for a new PostgreSQL connection: a server that does not answer is reported
# as unavailable instead of holding the caller for the driver's default minute.
CONNECT_TIMEOUT = 10.0
# Seconds a pooled PostgreSQL connection may sit unused before its next checkout pings the
# server first (see ``_install_postgresql_hooks``).
IDLE_PING_SECONDS = 10.0
_IDLE_SINCE = "sleeptime_idle_since"
# Seconds a SQLite writer waits for the write lock before it gives up (as "database locked").
SQLITE_BUSY_SECONDS = 30


def is_sqlite_url(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False) -> AsyncEngine:
    # JSON goes through ``storable`` so model output with U+0000 can be stored (see there).
    json_codec: dict[str, Any] = {"json_serializer": dumps, "json_deserializer": loads}
    if not is_sqlite_url(url):
        engine = create_async_engine(
            url,
            echo=echo,
            pool_size=10,
            max_overflow=20,
            connect_args={"timeout": CONNECT_TIMEOUT},
            **json_codec,
        )
        _install_postgresql_hooks(engine)
        return engine
    engine = create_async_engine(
        url,
        echo=echo,
        connect_args={"timeout": SQLITE_BUSY_SECONDS},
        module=sqlite_driver.dbapi(),  # one trip to aiosqlite's thread per statement
        **json_codec,
    )
    _install_sqlite_hooks(engine)
    return engine


def write_engine(engine: AsyncEngine) -> AsyncEngine:
    """An engine sharing ``engine``'s pool whose transactions take the write lock at BEGIN."""
    if engine.dialect.name != "sqlite":
        return engine
    return engine.execution_options(**{_IMMEDIATE: True})


def read_engine(engine: AsyncEngine) -> AsyncEngine:
    """An engine sharing ``engine``'s pool for units of work that only read.

    On PostgreSQL their statements run outside a transaction block: under READ COMMITTED
    (the isolation in use) every statement of a transaction reads a snapshot of its own
    anyway, so the block bought a read nothing but its BEGIN and COMMIT, two round trips.
    SQLite keeps its transaction, which is what gives a read one snapshot there."""
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def _install_sqlite_hooks(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        # Take transaction control from the driver so BEGIN is issued by the hook below.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _install_postgresql_hooks(engine: AsyncEngine) -> None:
    """Check a pooled connection at checkout, without a round trip when it was in use lately.

    A server that ends a connection (a restart, an administrator terminating backends, an
    outage) tells the client, and asyncpg marks the connection closed as soon as the event
    loop reads that: such a connection is replaced at checkout for free. Only a connection
    idle for longer than ``IDLE_PING_SECONDS``, which a network could have dropped without a
    word, is pinged first. ``pool_pre_ping`` pinged at every checkout instead, which costs
    three round trips (BEGIN, an empty statement, ROLLBACK) twice per turn.
    """
    pool = engine.sync_engine.pool
    dialect = engine.dialect

    @event.listens_for(pool, "checkin")
    def _on_checkin(dbapi_connection: Any, record: ConnectionPoolEntry) -> None:
        record.info[_IDLE_SINCE] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _on_checkout(dbapi_connection: Any, record: ConnectionPoolEntry, proxy: Any) -> None:
        idle_since = record.info.pop(_IDLE_SINCE, None)
        if dbapi_connection.driver_connection.is_closed():
            # The pool replaces the connection (and tries again) on this error.
            raise sa_exc.DisconnectionError("the server closed this connection")
        if idle_since is None or time.monotonic() - idle_since <= IDLE_PING_SECONDS:
            return
        try:
            dialect.do_ping(dbapi_connection)
        except (dialect.loaded_dbapi.Error, OSError) as exc:
            raise sa_exc.DisconnectionError("the connection failed its ping") from exc


# An arbitrary constant naming the advisory lock that serialises migrations.
_MIGRATION_LOCK_KEY = 0x5E1EE9


async def lock_for_migration(connection: AsyncConnection) -> None:
    """Serialise concurrent migrators (several replicas starting with ``--migrate``).

    PostgreSQL: a transaction-scoped advisory lock. SQLite: one process per file already.
    """
    if connection.dialect.name == "postgresql":
        await connection.execute(
            text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY}
        )


NOTIFY_CHANNEL = "sleeptime_runs"
DONE_CHANNEL = "sleeptime_run_done"
EVENTS_CHANNEL = "sleeptime_run_events"


# Notifications a transaction will send, kept in its session's ``info`` until it commits.
_PENDING = "sleeptime_pending_notifications"


def _notify(session: AsyncSession, channel: str, payload: str) -> None:
    """Queue a notification; PostgreSQL delivers them at commit anyway, so every one a
    transaction queued goes out in one statement just before it commits."""
    if dialect_of(session) == "postgresql":
        pending: dict[tuple[str, str], None] = session.info.setdefault(_PENDING, {})
        pending[(channel, payload)] = None


@event.listens_for(Session, "before_commit")
def _send_notifications(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if not pending:
        return
    params: dict[str, str] = {}
    calls = []
    for index, (channel, payload) in enumerate(pending):
        params[f"c{index}"], params[f"p{index}"] = channel, payload
        calls.append(f"pg_notify(:c{index}, :p{index})")
    session.execute(text("SELECT " + ", ".join(calls)), params)


@event.listens_for(Session, "after_soft_rollback")
def _drop_notifications(session: Session, previous_transaction: Any) -> None:
    session.info.pop(_PENDING, None)


async def notify_runs(session: AsyncSession) -> None:
    """Tell other processes that runs are waiting. PostgreSQL delivers it at commit;
    SQLite has one process, whose dispatcher is woken in memory instead."""
    _notify(session, NOTIFY_CHANNEL, "")


async def notify_done(session: AsyncSession, run_id: str) -> None:
    """Tell every process that a run ended (delivered at commit, PostgreSQL only)."""
    _notify(session, DONE_CHANNEL, run_id)


# SQLSTATE classes of failures that pass on their own: connection exceptions (08), transaction
# rollbacks such as deadlocks (40), insufficient resources (53) and operator intervention, an
# admin shutdown or a server starting up (57); and a database that refuses connections for now
# (55000, ``ALLOW_CONNECTIONS false``) or a lock not available (55P03).
_TRANSIENT_CLASSES = frozenset({"08", "40", "53", "57"})
_TRANSIENT_STATES = frozenset({"55000", "55P03"})
_TRANSIENT_TYPES = (
    sa_exc.OperationalError,  # SQLite: locked, unreadable or missing file; I/O errors
    sa_exc.InterfaceError,  # a connection that was closed under the driver
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,  # no pooled connection came free in time
    OSError,  # refused or reset connections, unreachable hosts, connect timeouts
)


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc`` says the database is unreachable or briefly unable to serve, so the
    same work may succeed later: background loops back off and retry, requests answer 503.
    Anything else a database raises is a bug or a bad request, not an outage."""
    if isinstance(exc, _TRANSIENT_TYPES):
        return True
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return True
    for error in (exc, getattr(exc, "orig", None), exc.__cause__):
        state = getattr(error, "sqlstate", None)
        if isinstance(state, str) and (
            state[:2] in _TRANSIENT_CLASSES or state in _TRANSIENT_STATES
        ):
            return True
    return False


def describe_failure(exc: BaseException) -> str:
    """One short line naming a database failure: the driver's own error and the first line
    of its message, without the statement and parameters SQLAlchemy appends (which may hold
    user data), for logs, ``/readyz`` and the like."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {lines[0][:200] if lines else ''}".rstrip(": ")


def dialect_of(session: AsyncSession) -> str:
    bind = session.bind
    return bind.dialect.name if bind is not None else "sqlite"


def insert_ignoring_conflict(
    session: AsyncSession,
    table: Table,
    values: dict[str, Any],
    *,
    index_elements: list[str],
    index_where: Any,
) -> Insert:
    """INSERT that does nothing when a partial unique index already holds such a row."""
    insert = pg_insert if dialect_of(session) == "postgresql" else sqlite_insert
    return (
        insert(table)
        .values(**values)
        .on_conflict_do_nothing(index_elements=index_elements, index_where=index_where)
    )


class ProcessLockError(RuntimeError):
    pass


def acquire_process_lock(url: str) -> IO[str] | None:
    """Refuse a second server process on the same SQLite file (no-op on PostgreSQL).

    The lock is an advisory ``flock`` on ``<database>.lock``; the kernel drops it when the
    process dies, so a crash never leaves a stale lock behind. Keep the returned file open
    for the life of the process.
    """
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        return None
    lock_path = Path(parsed.database).resolve().with_name(Path(parsed.database).name + ".lock")
    handle = lock_path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise ProcessLockError(
            f"another sleeptime process is already using {parsed.database}; SQLite supports "
            "one server process per database file (use PostgreSQL to run several)"
        ) from None
    handle.truncate(0)
    handle.write(str(os.getpid()))
    handle.flush()
    return handle
