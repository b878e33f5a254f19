"""Tables a test makes for itself, beside the application's."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import MetaData

from app.kit.db import Database


@asynccontextmanager
async def created(db: Database, metadata: MetaData) -> AsyncIterator[Database]:
    """``metadata``'s tables, made in ``db`` for the block and dropped after it."""
    async with db.engine.begin() as connection:
        await connection.run_sync(metadata.create_all)
    try:
        yield db
    finally:
        async with db.engine.begin() as connection:
            await connection.run_sync(metadata.drop_all)
