"""Schema migrations, run in-process through Alembic on a live async connection."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.kit import dialect

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class SchemaNotReadyError(RuntimeError):
    pass


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise SchemaNotReadyError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def _run(engine: AsyncEngine, action: str, revision: str) -> None:
    config = alembic_config()

    def run(connection: Connection) -> None:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)

    async with engine.begin() as connection:
        await dialect.lock_for_migration(connection)
        await connection.run_sync(run)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _run(engine, "upgrade", revision)


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    await _run(engine, "downgrade", revision)


async def ensure_schema(engine: AsyncEngine, *, migrate: bool) -> None:
    """Migrate to head when asked to; otherwise refuse to run on an out-of-date schema."""
    if migrate:
        await upgrade(engine)
        return
    current, head = await current_revision(engine), head_revision()
    if current != head:
        raise SchemaNotReadyError(
            f"the database schema is at revision {current or 'none'} but this version needs "
            f"{head}: run `sleeptime migrate` first (or start with `sleeptime serve --migrate`)"
        )
