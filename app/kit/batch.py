"""Inserts that go to PostgreSQL with the transaction's next statement.

Every statement is a round trip to the server, and the rows a turn writes (its input and run,
then its reply, step and stream events) need nothing back from the database. On PostgreSQL
such inserts wait in the session (``later``) and leave with the next statement of the
transaction: a write takes them along as data-modifying ``WITH`` clauses of its own (one
statement, one round trip), and before anything else (a read, Core or ORM work, the commit)
they are sent on their own, all in one statement. PostgreSQL checks foreign keys at the end
of a statement, so rows of one statement may refer to each other in any order.

A write takes them along only when it touches none of their tables: the clauses of one
statement all see the database as it was before the statement, so an ``UPDATE`` would not see
a row inserted beside it. SQLite runs in process, where a statement costs no round trip:
there, inserts are never held.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Insert, Table, bindparam, event, insert
from sqlalchemy.orm import ORMExecuteState, Session, UOWTransaction
from sqlalchemy.sql import ColumnElement
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.sql.util import find_tables

from app.kit.direct import Direct

# The key of a session's ``info`` under which its held inserts wait.
HELD = "app.kit.batch.held"
# Combined statements kept, by shape; a turn's shapes are few.
_MAX_SHAPES = 512
# Rows held at most: beyond, they are sent (every row's values are parameters of one
# statement, and each number of rows is a statement of its own).
MAX_ROWS = 100


class Insertion:
    """How rows of one kind are inserted: the table, the columns given (in order), and
    what the insert returns (a notification, say)."""

    __slots__ = ("keys", "many", "returning", "table")

    def __init__(
        self, table: Table, keys: tuple[str, ...], returning: tuple[ColumnElement[Any], ...] = ()
    ) -> None:
        self.table, self.keys, self.returning = table, keys, returning
        # Rows of this kind inserted at once, one parameter set per row (named by column).
        self.many = Direct(
            self._returning(insert(table).values({k: _bind(table, k, k) for k in keys}))
        )

    def statement(self, count: int, tag: str) -> Insert:
        """An insert of ``count`` rows whose parameters are named ``{tag}_{row}_{key}``."""
        rows = [
            {k: _bind(self.table, k, f"{tag}_{i}_{k}") for k in self.keys} for i in range(count)
        ]
        return self._returning(insert(self.table).values(rows))

    def _returning(self, statement: Insert) -> Insert:
        return statement.returning(*self.returning) if self.returning else statement


def _bind(table: Table, key: str, name: str) -> Any:
    return bindparam(name, type_=table.c[key].type)


@dataclass(slots=True)
class Held:
    """One kind's rows waiting in a session."""

    insertion: Insertion
    rows: list[Mapping[str, Any]] = field(default_factory=list)


def held(info: dict[str, Any]) -> list[Held]:
    found: list[Held] | None = info.get(HELD)
    if found is None:
        found = info[HELD] = []
    return found


def hold(info: dict[str, Any], insertion: Insertion, rows: Sequence[Mapping[str, Any]]) -> None:
    waiting = held(info)
    if waiting and waiting[-1].insertion is insertion:
        waiting[-1].rows.extend(rows)
    else:
        waiting.append(Held(insertion, list(rows)))


def count(info: dict[str, Any]) -> int:
    return sum(len(h.rows) for h in info.get(HELD) or ())


def take(info: dict[str, Any]) -> list[Held]:
    return info.pop(HELD, None) or []


_TABLES: dict[int, tuple[Direct, frozenset[str]]] = {}


def _tables_of(statement: Direct) -> frozenset[str]:
    found = _TABLES.get(id(statement))
    if found is None or found[0] is not statement:
        names = frozenset(t.name for t in find_tables(statement.statement, include_crud=True))
        found = _TABLES[id(statement)] = (statement, names)
    return found[1]


def can_carry(statement: Direct, waiting: Sequence[Held]) -> bool:
    """Whether ``statement`` can take the held inserts along: a write touching none of
    their tables."""
    target: Any = statement.statement
    if not isinstance(target, UpdateBase):
        return False
    return _tables_of(statement).isdisjoint(h.insertion.table.name for h in waiting)


_SHAPES: dict[tuple[Any, ...], Direct] = {}


def combined(
    statement: Direct | None, waiting: Sequence[Held], params: Mapping[str, Any]
) -> tuple[Direct, dict[str, Any]]:
    """``statement`` carrying the held inserts (or, for None, the held inserts as one
    statement), and its parameters with theirs."""
    shape = (statement, *((h.insertion, len(h.rows)) for h in waiting))
    found = _SHAPES.get(shape)
    if found is None:
        ctes = [h.insertion.statement(len(h.rows), f"w{j}") for j, h in enumerate(waiting)]
        if statement is None:
            main: Any = ctes.pop()
        else:
            main = statement.statement
        withs = [cte.cte(f"w{j}") for j, cte in enumerate(ctes)]
        found = Direct(main.add_cte(*withs) if withs else main)
        if len(_SHAPES) >= _MAX_SHAPES:
            _SHAPES.clear()
        _SHAPES[shape] = found
    merged = dict(params)
    for j, h in enumerate(waiting):
        keys = h.insertion.keys
        for i, row in enumerate(h.rows):
            for key in keys:
                merged[f"w{j}_{i}_{key}"] = row[key]
    return found, merged


def _send(session: Session) -> None:
    """Send a session's held inserts through Core: before ORM work and at a commit that
    ``Database.session`` did not make (which sends them itself, directly)."""
    waiting = take(session.info)
    if waiting:
        statement, params = combined(None, waiting, {})
        session.connection().execute(statement.statement, params)


@event.listens_for(Session, "do_orm_execute")
def _before_orm_statement(state: ORMExecuteState) -> None:
    _send(state.session)


@event.listens_for(Session, "before_flush")
def _before_flush(session: Session, _context: UOWTransaction, _instances: object) -> None:
    _send(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session: Session) -> None:
    _send(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, _previous: object) -> None:
    take(session.info)  # what was held goes with the transaction
