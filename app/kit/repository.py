"""The base every repository stands on: one organization's view of one session.

A turn runs a handful of statements on every request, so those are built once (at import, or
once per shape) and executed as Core on the session's connection: their compiled form is
cached by SQLAlchemy, and no ORM unit of work (``add`` and ``flush``, change tracking,
evaluate-synchronisation) runs for them. Rows written that way are still ORM objects to their
callers: ``insert_params`` reads them and fills in the column defaults the ORM would have.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, TypeVar

from sqlalchemy import Column, Executable, Table, inspect
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.instrumentation import manager_of_class

from app.kit import batch
from app.kit.db import Base, before_commit
from app.kit.direct import Direct, Driver, Plan, Row, driver_of, translated

# One entry per mapped column: the attribute name, the column key, and its default (None for
# none; called with no context, like the ORM calls a Python-side default).
_Field = tuple[str, str, Callable[[], Any] | None]
_FIELDS: dict[type[Base], list[_Field]] = {}
_INSERTS: dict[type[Base], Direct] = {}
_INSERTIONS: dict[type[Base], batch.Insertion] = {}
_Row = TypeVar("_Row", bound=Base)
_ATTRS: dict[type[Base], frozenset[str]] = {}
# The key under which a session's ``info`` keeps (its transaction, that transaction's
# connection, and the driver's connection under it once asked for).
_TRANSACTION = "app.kit.repository.connection"


class Repository:
    """Queries of one kind of data, scoped to one organization, in the caller's session."""

    def __init__(self, session: AsyncSession, organization_id: str) -> None:
        self.session = session
        self.organization_id = organization_id

    async def connection(self) -> AsyncConnection:
        """The connection of the session's transaction (begun if it was not yet), with the
        inserts held for it sent. Kept on the session for the rest of that transaction:
        asking the session costs a trip through its greenlet on every statement, and a
        turn's statements all ask."""
        await self.send_held()
        connection: AsyncConnection = (await self._transaction())[1]
        return connection

    async def _transaction(self) -> list[Any]:
        session = self.session
        kept: list[Any] | None = session.info.get(_TRANSACTION)
        if kept is not None:
            current = session.sync_session.get_transaction()
            if current is not None and current is kept[0] and current.is_active:
                return kept
        connection = await session.connection()
        kept = [session.sync_session.get_transaction(), connection, None]
        session.info[_TRANSACTION] = kept
        return kept

    async def _direct(self) -> tuple[AsyncConnection, Driver]:
        kept = await self._transaction()
        if kept[2] is None:
            kept[2] = await driver_of(kept[1])
        return kept[1], kept[2]

    async def direct_rows(self, statement: Direct, params: Mapping[str, Any]) -> list[Row]:
        """Run a direct statement (``app.kit.direct``) in the session's transaction; its
        rows, as tuples of processed values."""
        statement, params = await self._with_held(statement, params)
        plan, raw = await self._run(statement, params, "fetch")
        return plan.rows(raw)

    async def direct_count(self, statement: Direct, params: Mapping[str, Any]) -> int:
        """Run a direct statement that returns no rows; the number of rows it matched."""
        statement, params = await self._with_held(statement, params)
        count: int = (await self._run(statement, params, "execute"))[1]
        return count

    async def direct_many(self, statement: Direct, params: Sequence[Mapping[str, Any]]) -> None:
        """Run a direct statement once per parameter set (one statement for one set)."""
        if len(params) == 1:
            await self.direct_count(statement, params[0])
            return
        await self.send_held()
        await self._run(statement, params, "executemany")

    async def _run(
        self, statement: Direct, params: Any, call: Literal["fetch", "execute", "executemany"]
    ) -> tuple[Plan, Any]:
        """The driver's ``call`` with the statement's SQL and values (one set of parameters,
        or a sequence of them for ``executemany``), errors raised as Core raises them."""
        connection, driver = await self._direct()
        plan = statement.plan(connection.dialect)
        many = call == "executemany"
        args = [plan.args(p) for p in params] if many else plan.args(params)
        sql, args = _announced(connection, plan, args, many=many)
        try:
            return plan, await getattr(driver, call)(sql, args)
        except Exception as error:  # noqa: BLE001 (raised again, as Core would raise it)
            raise await translated(connection, plan, args, error) from None

    async def _with_held(
        self, statement: Direct, params: Mapping[str, Any]
    ) -> tuple[Direct, Mapping[str, Any]]:
        """``statement`` carrying the inserts held for the session, when it can; else they
        are sent first (``app.kit.batch``)."""
        info = self.session.info
        if batch.HELD not in info:
            return statement, params
        waiting = batch.held(info)
        if waiting and batch.can_carry(statement, waiting):
            return batch.combined(statement, batch.take(info), params)
        await self.send_held()
        return statement, params

    async def send_held(self) -> None:
        """Send the inserts held for the session now, in one statement."""
        waiting = batch.take(self.session.info)
        if waiting:
            await self._run(*batch.combined(None, waiting, {}), "execute")

    async def execute(
        self, statement: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> Result[Any]:
        """Run a Core statement in the session's transaction, bypassing the ORM."""
        connection = await self.connection()
        return await connection.execute(statement, params)

    async def insert_rows(
        self, entity: type[Base], rows: Sequence[Base], *, later: bool = False
    ) -> None:
        """Insert ORM objects of one class with one direct INSERT (an executemany for
        several). The objects stay unattached to the session: no flush tracks them.
        ``later``: on PostgreSQL the rows go with the transaction's next statement
        (``app.kit.batch``); nothing may expect the database to have refused them by then."""
        if not rows:
            return
        if later and self._holds():
            await self.hold(_insertion(entity), [insert_params(r) for r in rows])
            return
        statement = _INSERTS.get(entity)
        if statement is None:
            statement = _INSERTS[entity] = Direct(table_of(entity).insert())
        await self.direct_many(statement, [insert_params(r) for r in rows])

    async def hold(self, insertion: batch.Insertion, rows: Sequence[Mapping[str, Any]]) -> None:
        """Keep ``rows`` for the transaction's next statement (``app.kit.batch``; PostgreSQL).
        The transaction is begun first, so that a rollback drops them with it."""
        await self._transaction()
        if len(rows) > batch.MAX_ROWS:  # too many to hold: sent now, in order
            await self.send_held()
            await self.direct_many(insertion.many, rows)
            return
        batch.hold(self.session.info, insertion, rows)
        if batch.count(self.session.info) > batch.MAX_ROWS:
            await self.send_held()

    def _holds(self) -> bool:
        bind = self.session.bind
        return bind is not None and bind.dialect.name == "postgresql"

    async def rowcount(
        self, statement: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> int:
        result = await self.execute(statement, params)
        return int(result.rowcount) if isinstance(result, CursorResult) else 0


def _insertion(entity: type[Base]) -> batch.Insertion:
    found = _INSERTIONS.get(entity)
    if found is None:
        keys = tuple(key for _, key, _ in _fields(entity))
        found = _INSERTIONS[entity] = batch.Insertion(table_of(entity), keys)
    return found


@before_commit
async def _send_held(session: AsyncSession) -> None:
    """A unit of work's held inserts go before its commit (one statement)."""
    if session.info.get(batch.HELD):
        await Repository(session, "").send_held()


def _announced(
    connection: AsyncConnection, plan: Plan, args: Any, *, many: bool
) -> tuple[str, Any]:
    """The statement and its values after the engine's ``before_cursor_execute`` listeners,
    which Core calls before every statement (none are installed in production; tests and
    the benchmark count or refuse statements with them)."""
    sql = plan.sql
    sync = connection.sync_connection
    if sync is None:
        raise RuntimeError("the connection is closed")
    if sync._has_events or sync.engine._has_events:
        for fn in sync.dispatch.before_cursor_execute:
            sql, args = fn(sync, None, sql, args, None, many)
    return sql, args


def table_of(entity: type[Base]) -> Table:
    table = entity.__table__
    if not isinstance(table, Table):
        raise TypeError(f"{entity.__name__} is not mapped to one table")
    return table


def _fields(entity: type[Base]) -> list[_Field]:
    fields = _FIELDS.get(entity)
    if fields is None:
        fields = []
        for prop in inspect(entity).column_attrs:
            column = prop.columns[0]
            if not isinstance(column, Column):
                raise TypeError(f"{entity.__name__}.{prop.key} is not a plain column")
            fields.append((prop.key, column.key, _default_of(column)))
        _FIELDS[entity] = fields
    return fields


def _default_of(column: Column[Any]) -> Callable[[], Any] | None:
    default = column.default
    if default is None or (not default.is_scalar and not default.is_callable):
        return None
    if default.is_scalar:
        value = default.arg  # type: ignore[attr-defined]
        return lambda: value
    make = default.arg  # type: ignore[attr-defined]
    return lambda: make(None)


def insert_params(row: Base) -> dict[str, Any]:
    """Every column of ``row`` as INSERT parameters; an unset column takes its default (set
    on ``row`` too, as a flush would) or NULL."""
    state = row.__dict__
    params: dict[str, Any] = {}
    for attr, key, default in _fields(type(row)):
        if attr in state:
            params[key] = state[attr]
        elif default is not None:
            value = default()
            setattr(row, attr, value)
            params[key] = value
        else:
            params[key] = None
    return params


def detached(entity: type[_Row], values: Mapping[str, Any]) -> _Row:
    """An object of ``entity`` holding ``values`` (attribute names), made the way the ORM
    makes the objects it loads: its attributes filled in directly, without the events the
    constructor fires for each one. For rows written or read with Core on the hot path, which
    no session tracks: no unit of work needs their history. Attributes set later behave as
    on any object."""
    known = _ATTRS.get(entity)
    if known is None:
        known = _ATTRS[entity] = frozenset(inspect(entity).attrs.keys())
    if not known.issuperset(values):
        unknown = sorted(set(values) - known)
        raise TypeError(f"{entity.__name__} has no mapped attributes {unknown}")
    row: _Row = manager_of_class(entity).new_instance()
    row.__dict__.update(values)
    return row
