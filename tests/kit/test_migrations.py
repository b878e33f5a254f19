"""Migrations are the only way the schema is made: they must run both ways on both
databases and produce exactly what the models describe."""

import asyncio
import sys
from datetime import UTC, datetime
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from app.archival import fulltext
from app.kit import migrate
from app.kit.db import Database
from app.kit.ids import DEFAULT_ORG_ID
from app.models import Base
from tests.conftest import DatabaseFactory


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": fulltext.include_name}
    )
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - fulltext.SQLITE_TABLES


async def test_upgrade_downgrade_upgrade(database_factory: DatabaseFactory) -> None:
    db = Database(await database_factory.create())
    try:
        await migrate.upgrade(db.engine)
        assert await migrate.current_revision(db.engine) == migrate.head_revision()
        async with db.engine.connect() as conn:
            assert {t.name for t in Base.metadata.sorted_tables} <= await conn.run_sync(_tables)
            org = await conn.scalar(
                text("SELECT name FROM organizations WHERE id = :id"), {"id": DEFAULT_ORG_ID}
            )
            assert org == "default"
        await migrate.downgrade(db.engine)
        assert await migrate.current_revision(db.engine) is None
        async with db.engine.connect() as conn:
            assert await conn.run_sync(_tables) <= {"alembic_version"}
        await migrate.upgrade(db.engine)
        assert await migrate.current_revision(db.engine) == migrate.head_revision()
    finally:
        await db.dispose()


async def test_schema_matches_the_models(db: Database) -> None:
    async with db.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []


async def test_partial_unique_indexes_hold_one_waiting_and_one_running_sleeptime_run(
    db: Database,
) -> None:
    async with db.engine.connect() as conn:
        indexes = {
            ix["name"]: ix for ix in await conn.run_sync(lambda c: inspect(c).get_indexes("runs"))
        }
    assert indexes["ux_runs_joined_running"]["unique"]
    assert indexes["ux_runs_joined_waiting"]["unique"]


async def test_ensure_schema_refuses_an_unmigrated_database(
    database_factory: DatabaseFactory,
) -> None:
    db = Database(await database_factory.create())
    try:
        with pytest.raises(migrate.SchemaNotReadyError, match="sleeptime migrate"):
            await migrate.ensure_schema(db.engine, migrate=False)
        await migrate.ensure_schema(db.engine, migrate=True)
        await migrate.ensure_schema(db.engine, migrate=False)
    finally:
        await db.dispose()


async def test_agents_made_before_the_system_message_get_one(
    database_factory: DatabaseFactory,
) -> None:
    """An agent written by an older version (no message at seq 0) starts its history with a
    system message after the upgrade; its other messages are left as they were."""
    db = Database(await database_factory.create())
    try:
        await migrate.upgrade(db.engine, "0003")
        async with db.engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO agents (id, organization_id, name, agent_type, system, model,"
                    " tool_names, tool_rules, enable_sleeptime, message_buffer_autoclear,"
                    " last_message_seq, context_start_seq, created_at, updated_at) VALUES"
                    " ('agent-old', :org, 'old', 'letta_v1_agent', 'You are old.',"
                    " 'openai/gpt-4o-mini', '[]', '[]', false, false, 1, 0, :now, :now)"
                ),
                {"org": DEFAULT_ORG_ID, "now": datetime(2026, 1, 1, tzinfo=UTC)},
            )
            await conn.execute(
                text(
                    "INSERT INTO messages (id, organization_id, agent_id, seq, role, content,"
                    " is_err, created_at) VALUES ('message-hi', :org, 'agent-old', 1, 'user',"
                    " '[]', false, :now)"
                ),
                {"org": DEFAULT_ORG_ID, "now": datetime(2026, 1, 2, tzinfo=UTC)},
            )
        await migrate.upgrade(db.engine)
        async with db.engine.connect() as conn:
            rows = (
                await conn.execute(
                    text("SELECT seq, role FROM messages WHERE agent_id = 'agent-old' ORDER BY seq")
                )
            ).all()
        assert [tuple(r) for r in rows] == [(0, "system"), (1, "user")]
        await migrate.downgrade(db.engine, "0003")
        async with db.engine.connect() as conn:
            roles = (await conn.execute(text("SELECT role FROM messages"))).scalars().all()
        assert roles == ["user"]
    finally:
        await db.dispose()


def test_the_head_read_from_the_scripts_is_alembics() -> None:
    assert (
        migrate.head_revision()
        == ScriptDirectory.from_config(migrate.alembic_config()).get_current_head()
    )


async def test_the_revision_read_with_one_query_is_alembics(
    database_factory: DatabaseFactory,
) -> None:
    db = Database(await database_factory.create())
    try:
        assert await migrate.current_revision(db.engine) is None
        await migrate.upgrade(db.engine, "0001")
        async with db.engine.connect() as conn:
            alembic_says = await conn.run_sync(
                lambda c: MigrationContext.configure(c).get_current_revision()
            )
        assert await migrate.current_revision(db.engine) == alembic_says == "0001"
    finally:
        await db.dispose()


async def test_a_start_on_a_schema_at_head_does_not_load_alembic(
    database_factory: DatabaseFactory,
) -> None:
    """Alembic and its scripts load only when there is migrating to do (start-up time)."""
    url = await database_factory.create()
    db = Database(url)
    try:
        await migrate.upgrade(db.engine)
    finally:
        await db.dispose()
    check = (
        "import asyncio, sys\n"
        "from app.kit import migrate\n"
        "from app.kit.db import Database\n"
        "async def main():\n"
        f"    db = Database({url!r})\n"
        "    await migrate.ensure_schema(db.engine, migrate=True)\n"
        "    await db.dispose()\n"
        "asyncio.run(main())\n"
        "assert 'alembic' not in sys.modules, 'alembic was imported'\n"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", check, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()
