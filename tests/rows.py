"""Every row the tests wrote, captured and written back: for a fixture whose world of rows
takes many requests to build, so that each test can start from its own fresh copy of it
without building it again."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, func, select, text

from app.kit.db import Database
from app.kit.ids import DEFAULT_ORG_ID
from app.models import Base


@dataclass(frozen=True)
class Rows:
    tables: list[tuple[Table, list[dict[str, Any]]]]  # in the order they can be inserted
    sequences: list[tuple[Table, str, str]]  # PostgreSQL: (table, column, its sequence)


async def capture(db: Database) -> Rows:
    tables: list[tuple[Table, list[dict[str, Any]]]] = []
    sequences: list[tuple[Table, str, str]] = []
    async with db.session() as session:
        for table in Base.metadata.sorted_tables:
            query = select(table)
            if table.name == "organizations":  # the default one is always there
                query = query.where(table.c.id != DEFAULT_ORG_ID)
            rows = [dict(row) for row in (await session.execute(query)).mappings()]
            tables.append((table, rows))
            if db.is_sqlite or not rows:
                continue
            for column in table.primary_key.columns:
                found = await session.execute(
                    select(func.pg_get_serial_sequence(table.name, column.name))
                )
                sequence = found.scalar_one()
                if sequence is not None:
                    sequences.append((table, column.name, sequence))
    return Rows(tables, sequences)


async def restore(db: Database, rows: Rows) -> None:
    """Write the captured rows into tables emptied since (their serial ids go on after the
    highest one written, as when the rows were first written)."""
    async with db.session() as session:
        for table, values in rows.tables:
            if values:
                await session.execute(table.insert(), values)
        for table, column, sequence in rows.sequences:
            highest = select(func.max(table.c[column])).scalar_subquery()
            await session.execute(select(func.setval(text(f"'{sequence}'::regclass"), highest)))
