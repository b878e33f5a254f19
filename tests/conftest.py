"""Test fixtures: a migrated database (SQLite or PostgreSQL), the app, HTTP clients.

The backend comes from ``SLEEPTIME_TEST_DB`` (``sqlite``, the default, or ``postgresql``).
PostgreSQL tests create a database of their own on the server named by
``SLEEPTIME_TEST_POSTGRES_URL`` and drop it at the end.
"""

import os
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.config import AuthMode, Settings
from app.kit import migrate
from app.kit.db import Database
from app.kit.ids import DEFAULT_ORG_ID
from app.main import create_app
from app.models import Base
from tests import plain_tracebacks, route_analysis, tls_defaults
from tests.fakes.llm_server import FakeLLMServer, run_fake_llm

BACKEND = os.environ.get("SLEEPTIME_TEST_DB", "sqlite")
POSTGRES_ADMIN_URL = os.environ.get(
    "SLEEPTIME_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
MODEL = "openai/gpt-4o-mini"

# Every test builds an app of its own: what FastAPI and httpx build for an app from the same
# module-level routes and default settings is built once per process (see the modules).
route_analysis.install()
tls_defaults.install()
plain_tracebacks.install()


async def _admin_execute(sql: str) -> None:
    db = Database(POSTGRES_ADMIN_URL)
    try:
        async with db.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await conn.execute(text(sql))
    finally:
        await db.dispose()


class DatabaseFactory:
    """Creates empty databases of the configured backend and drops them at the end."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.created: list[str] = []

    async def create(self) -> str:
        name = f"sleeptime_test_{uuid.uuid4().hex[:12]}"
        if BACKEND == "sqlite":
            return f"sqlite+aiosqlite:///{self.tmp / name}.db"
        await _admin_execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        return str(make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(False))

    async def drop_all(self) -> None:
        for name in self.created:
            await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
async def database_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[DatabaseFactory]:
    if BACKEND not in {"sqlite", "postgresql"}:
        raise pytest.UsageError(f"SLEEPTIME_TEST_DB must be sqlite or postgresql, not {BACKEND}")
    factory = DatabaseFactory(tmp_path_factory.mktemp("db"))
    yield factory
    await factory.drop_all()


@pytest.fixture(scope="session")
async def database_url(database_factory: DatabaseFactory) -> str:
    url = await database_factory.create()
    db = Database(url)
    try:
        await migrate.upgrade(db.engine)
    finally:
        await db.dispose()
    return url


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()


@pytest.fixture(autouse=True)
async def _clean_tables(request: pytest.FixtureRequest) -> AsyncIterator[None]:
    yield
    if "db" not in request.fixturenames:
        return
    await clean_tables(request.getfixturevalue("db"))


async def clean_tables(database: Database) -> None:
    """Delete every row a test wrote (the default organization stays)."""
    async with database.session() as session:
        for table in reversed(Base.metadata.sorted_tables):
            if table.name == "organizations":
                await session.execute(table.delete().where(table.c.id != DEFAULT_ORG_ID))
            else:
                await session.execute(table.delete())


@pytest.fixture(scope="session")
def _fake_llm_server() -> Iterator[FakeLLMServer]:
    with run_fake_llm() as server:
        yield server


@pytest.fixture
def fake_llm(_fake_llm_server: FakeLLMServer) -> Iterator[FakeLLMServer]:
    """The loopback model server, with an empty script for this test."""
    _fake_llm_server.state.reset()
    yield _fake_llm_server
    _fake_llm_server.state.reset()


def base_settings(database_url: str, fake_llm: FakeLLMServer) -> Settings:
    return Settings(
        database_url=database_url,
        openai_base_url=fake_llm.base_url,
        openai_models=["gpt-4o-mini", "gpt-4.1"],
        log_level="WARNING",
        provider_retry_base_seconds=0.0,
        provider_retry_max_seconds=0.0,
    )


@pytest.fixture
def settings(database_url: str, fake_llm: FakeLLMServer) -> Settings:
    return base_settings(database_url, fake_llm)


AppFactory = Callable[..., Awaitable[httpx.AsyncClient]]
AppAndClient = tuple[FastAPI, httpx.AsyncClient]
AppMaker = Callable[..., Awaitable[AppAndClient]]


async def _start(stack: list[tuple[Any, httpx.AsyncClient]], settings: Settings) -> AppAndClient:
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
        base_url="http://testserver",
    )
    stack.append((lifespan, client))
    return app, client


async def _stop(stack: list[tuple[Any, httpx.AsyncClient]]) -> None:
    for lifespan, client in reversed(stack):
        await client.aclose()
        await lifespan.__aexit__(None, None, None)


@pytest.fixture
async def make_app(
    settings: Settings, db: Database
) -> AsyncIterator[Callable[..., Awaitable[AppAndClient]]]:
    """Build an app with settings overrides, run its lifespan, and return it with a client."""
    stack: list[tuple[Any, httpx.AsyncClient]] = []

    async def build(**overrides: Any) -> AppAndClient:
        return await _start(stack, settings.model_copy(update=overrides))

    yield build
    await _stop(stack)


@pytest.fixture(scope="module")
async def module_app(
    database_url: str, db: Database, _fake_llm_server: FakeLLMServer
) -> AsyncIterator[AppMaker]:
    """An app shared by the module's tests, one per set of settings overrides, with a
    client: only for requests answered before anything an app or its database holds is read
    or written (an unsupported route's 501, a missing key's 401), for which an app per test
    bought nothing, or to build rows once for many tests. The tables are still emptied after
    each test.

    The app does not dispatch: living across tests, it must not run what another test
    queued (and leaves queued, on purpose, with dispatching off)."""
    stack: list[tuple[Any, httpx.AsyncClient]] = []
    apps: dict[str, AppAndClient] = {}
    settings = base_settings(database_url, _fake_llm_server).model_copy(
        update={"dispatcher": False}
    )

    async def build(**overrides: Any) -> AppAndClient:
        key = repr(sorted(overrides.items()))
        if key not in apps:
            apps[key] = await _start(stack, settings.model_copy(update=overrides))
        return apps[key]

    yield build
    await _stop(stack)


@pytest.fixture(scope="module")
def module_client(module_app: AppMaker) -> AppFactory:
    """The client of ``module_app``'s app for these overrides."""

    async def build(**overrides: Any) -> httpx.AsyncClient:
        return (await module_app(**overrides))[1]

    return build


@pytest.fixture
def make_client(make_app: Callable[..., Awaitable[AppAndClient]]) -> AppFactory:
    async def build(**overrides: Any) -> httpx.AsyncClient:
        return (await make_app(**overrides))[1]

    return build


@pytest.fixture
async def client(make_client: AppFactory) -> httpx.AsyncClient:
    return await make_client()


@pytest.fixture
def auth_required() -> dict[str, Any]:
    return {"auth": AuthMode.required}
