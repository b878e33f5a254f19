"""Alembic environment, async-aware.

The service runs migrations in-process by handing a live connection in
``config.attributes["connection"]`` (see ``app/kit/migrate.py``); the ``alembic`` command line
opens its own async engine from ``SLEEPTIME_DATABASE_URL``.
"""

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from app.archival import fulltext
from app.config import get_settings
from app.kit.dialect import create_engine
from app.models import Base

target_metadata = Base.metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=fulltext.include_name,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url") or get_settings().database_url
    asyncio.run(_run_async(url))


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported")
run_migrations_online()
