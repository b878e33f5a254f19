"""Schema migrations, run in-process through Alembic on a live async connection.

Alembic is imported only when there is migrating to do: a server starting on a schema that
is already at head (every start but the first after an upgrade) reads the revision with one
query and the head from the migration files' own headers, and skips Alembic's import and its
loading of every migration script, a good part of the start-up time.
"""

import re
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.kit import dialect

if TYPE_CHECKING:
    from alembic.config import Config

MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
_VERSION_TABLE = "alembic_version"
# The revision identifiers as every script generated from script.py.mako declares them.
_REVISION = re.compile(r'^revision(?:: str)? = "([^"]+)"', re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision(?:: [^=]+)? = (.+)$", re.MULTILINE)


class SchemaNotReadyError(RuntimeError):
    pass


def alembic_config() -> "Config":
    from alembic.config import Config  # noqa: PLC0415 (Alembic loads only to migrate)

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _alembic_head() -> str | None:
    from alembic.script import ScriptDirectory  # noqa: PLC0415 (Alembic loads only to migrate)

    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _declared_head() -> str | None:
    """The one revision no script names as its parent, read from the scripts' headers;
    None when the headers do not tell (a merge, a branch, a script written by hand)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for script in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = script.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision[1])
        parent = down[1].strip()
        if parent != "None":
            if not (parent.startswith('"') and parent.endswith('"')):
                return None  # a tuple of parents: let Alembic work it out
            parents.add(parent.strip('"'))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


@cache
def head_revision() -> str:
    head = _declared_head() or _alembic_head()
    if head is None:
        raise SchemaNotReadyError(f"no migrations found in {MIGRATIONS_DIR}")
    return head


def _current(connection: Connection) -> str | None:
    if not inspect(connection).has_table(_VERSION_TABLE):
        return None
    rows = connection.execute(text(f"SELECT version_num FROM {_VERSION_TABLE}")).all()  # noqa: S608 (a constant)
    if len(rows) > 1:
        raise SchemaNotReadyError(f"the database has several schema heads: {sorted(rows)}")
    return str(rows[0][0]) if rows else None


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(_current)


async def _run(engine: AsyncEngine, action: str, revision: str) -> None:
    from alembic import command  # noqa: PLC0415 (Alembic loads only to migrate)

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
    """Migrate to head when asked to and not there yet; otherwise refuse to run on an
    out-of-date schema."""
    current, head = await current_revision(engine), head_revision()
    if current == head:
        return
    if migrate:
        await upgrade(engine)
        return
    raise SchemaNotReadyError(
        f"the database schema is at revision {current or 'none'} but this version needs "
        f"{head}: run `sleeptime migrate` first (or start with `sleeptime serve --migrate`)"
    )
