"""Request-scoped dependencies shared by every domain: the unit of work and app services.

Dependencies that only read ``app.state`` are ``async def``: FastAPI runs a plain ``def``
dependency in its thread pool, a thread hop per dependency per request for no work."""

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.kit.db import Database

_READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_database(request: Request) -> Database:
    return _database(request)


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed after the endpoint returns and before the
    response is sent (``scope="function"``), so a failed commit still answers an error."""
    db = _database(request)
    async with db.session(write=request.method not in _READ_ONLY_METHODS) as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
DatabaseDep = Annotated[Database, Depends(get_database)]
