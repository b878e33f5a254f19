"""The base every repository stands on: one organization's view of one session.

A turn runs a handful of statements on every request, so those are built once (at import, or
once per shape) and executed as Core on the session's connection: their compiled form is
cached by SQLAlchemy, and no ORM unit of work (``add`` and ``flush``, change tracking,
evaluate-synchronisation) runs for them. Rows written that way are still ORM objects to their
callers: ``insert_params`` reads them and fills in the column defaults the ORM would have.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import Column, Executable, Insert, Table, inspect
from sqlalchemy.engine import CursorResult, Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from sqlalchemy.orm.instrumentation import manager_of_class

from app.kit.db import Base

# One entry per mapped column: the attribute name, the column key, and its default (None for
# none; called with no context, like the ORM calls a Python-side default).
_Field = tuple[str, str, Callable[[], Any] | None]
_FIELDS: dict[type[Base], list[_Field]] = {}
_INSERTS: dict[type[Base], Insert] = {}
_Row = TypeVar("_Row", bound=Base)
_ATTRS: dict[type[Base], frozenset[str]] = {}
# The key under which a session's ``info`` holds (its transaction, that transaction's connection).
_HELD = "app.kit.repository.connection"


class Repository:
    """Queries of one kind of data, scoped to one organization, in the caller's session."""

    def __init__(self, session: AsyncSession, organization_id: str) -> None:
        self.session = session
        self.organization_id = organization_id

    async def connection(self) -> AsyncConnection:
        """The connection of the session's transaction (begun if it was not yet). Kept on
        the session for the rest of that transaction: asking the session costs a trip
        through its greenlet on every statement, and a turn's statements all ask."""
        session = self.session
        held = session.info.get(_HELD)
        if held is not None:
            transaction, connection = held
            current = session.sync_session.get_transaction()
            if current is not None and current is transaction and current.is_active:
                return connection  # type: ignore[no-any-return]
        connection = await session.connection()
        session.info[_HELD] = (session.sync_session.get_transaction(), connection)
        return connection

    async def execute(
        self, statement: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> Result[Any]:
        """Run a Core statement in the session's transaction, bypassing the ORM."""
        connection = await self.connection()
        return await connection.execute(statement, params)

    async def insert_rows(self, entity: type[Base], rows: Sequence[Base]) -> None:
        """Insert ORM objects of one class with one Core INSERT (an executemany for several).
        The objects stay unattached to the session: no flush tracks them afterwards."""
        if not rows:
            return
        statement = _INSERTS.get(entity)
        if statement is None:
            statement = _INSERTS[entity] = table_of(entity).insert()
        params = [insert_params(r) for r in rows]
        await self.execute(statement, params[0] if len(params) == 1 else params)

    async def rowcount(
        self, statement: Executable, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]
    ) -> int:
        result = await self.execute(statement, params)
        return int(result.rowcount) if isinstance(result, CursorResult) else 0


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
