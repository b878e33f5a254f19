"""Database foundation: declarative base, column types, engine and sessions.

One unit of work per request or job: a session is opened by the caller, services and
repositories only ``flush``, and the owner commits once at the end. Sessions use
``expire_on_commit=False`` so loaded rows stay readable after the commit.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime, MetaData, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from app.kit import dialect

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    return datetime.now(UTC)


async def now_in(session: AsyncSession) -> datetime:
    """The current time, read once ``session``'s transaction has begun. A write session on
    SQLite holds the write lock from BEGIN, so the time is not earlier than any commit the
    transaction follows, and a lease taken with it is not shortened by the wait."""
    await session.connection()
    return utcnow()


# Work a unit of work does last, before it commits (the layers above register it: held
# inserts, say); in registration order.
_BEFORE_COMMIT: list[Callable[[AsyncSession], Awaitable[None]]] = []


def before_commit(
    hook: Callable[[AsyncSession], Awaitable[None]],
) -> Callable[[AsyncSession], Awaitable[None]]:
    _BEFORE_COMMIT.append(hook)
    return hook


async def _finishing(session: AsyncSession) -> None:
    for hook in _BEFORE_COMMIT:
        await hook(session)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back timezone-aware.

    SQLite has no timezone type; storing naive UTC there and tagging it on the way out keeps
    both dialects identical to callers and keeps values comparable as text on SQLite.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = JSON().with_variant(JSONB(), "postgresql")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSONType}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class Database:
    """The engine and the session factories for one configured database URL.

    A write session begins an immediate (write-locking) transaction on SQLite so that two
    writers queue on the lock instead of failing on a stale snapshot; on PostgreSQL a read
    session runs its statements outside a transaction block (``dialect.read_engine``: no
    BEGIN and COMMIT round trips). SQLite has one writer at a time: this process's writers take
    turns on an ``asyncio.Lock`` first (in arrival order, each with its connection already in
    hand), so they never meet SQLite's sleep-and-retry busy handler, whose growing sleeps put
    seconds on the slowest turns under load; other processes are still arbitrated by it.
    """

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = url
        self.engine: AsyncEngine = dialect.create_engine(url, echo=echo)
        self._write_engine = dialect.write_engine(self.engine)
        self._read = async_sessionmaker(
            dialect.read_engine(self.engine), expire_on_commit=False, autoflush=False
        )
        self._write = async_sessionmaker(
            self._write_engine, expire_on_commit=False, autoflush=False
        )
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def session(self, *, write: bool = True) -> AsyncIterator[AsyncSession]:
        """A unit of work: committed when the block exits cleanly, rolled back otherwise."""
        if write and self._write_lock is not None:
            async with self._serialised(self._write_lock) as session:
                yield session
            return
        factory = self._write if write else self._read
        async with factory() as session, session.begin():
            yield session
            await _finishing(session)

    @asynccontextmanager
    async def _serialised(self, lock: asyncio.Lock) -> AsyncIterator[AsyncSession]:
        """A SQLite write session holding the process's write lock from BEGIN to COMMIT. The
        connection is taken before the lock, so a lock holder never waits for the pool."""
        async with self._write_engine.connect() as connection:
            async with asyncio.timeout(dialect.SQLITE_BUSY_SECONDS):
                await lock.acquire()
            try:
                async with self._write(bind=connection) as session, session.begin():
                    yield session
                    await _finishing(session)
            finally:
                lock.release()

    async def dispose(self) -> None:
        await self.engine.dispose()
