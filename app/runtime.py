"""The long-lived parts of a process, built once: database, HTTP client, provider registry,
agent engine, turn service and the background-run dispatcher. ``sleeptime serve`` uses all of
them behind the HTTP API; ``sleeptime worker`` runs only the dispatcher."""

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import structlog
from sqlalchemy.engine import make_url

from app import __version__
from app.config import Settings
from app.engine.compactor import CompactionConfig
from app.engine.loop import Engine
from app.health.metrics import Scraper
from app.kit import migrate, tracing
from app.kit.db import Database
from app.mcp import runner as mcp_runner
from app.mcp.pool import MCPPool
from app.mcp.service import MCPService
from app.providers.factory import make_provider
from app.providers.registry import ProviderRegistry
from app.runs.admission import TurnGate
from app.runs.control import RunControl
from app.sleeptime import trigger
from app.streaming.follow import Follower
from app.streaming.hub import Hub
from app.tools.run import ToolRunners
from app.tools.runners import build_runners
from app.turns.callbacks import RunCallbacks
from app.turns.service import TurnService
from app.turns.types import TurnDeps
from app.worker.dispatcher import Dispatcher
from app.worker.loops import Vitals

log = structlog.get_logger("app.runtime")

Role = Literal["serve", "worker"]
_STARTED: dict[Role, str] = {"serve": "serve.started", "worker": "worker.started"}


@dataclass(frozen=True, slots=True)
class Services:
    """What every run executor is built from: each kind's executor factory, named in the
    run lifecycle's registry (``app.runs.lifecycle``), takes these."""

    db: Database
    engine: Engine
    settings: Settings
    control: RunControl
    hub: Hub
    turns: TurnService
    callbacks: RunCallbacks


@dataclass(frozen=True, slots=True)
class Runtime:
    settings: Settings
    db: Database
    http: httpx.AsyncClient
    registry: ProviderRegistry
    turns: TurnService
    control: RunControl
    dispatcher: Dispatcher
    hub: Hub
    follower: Follower
    callbacks: RunCallbacks
    vitals: Vitals  # the background loops' states, and the bug that stopped one
    tools: ToolRunners
    mcp: MCPService  # the process's MCP sessions (closed last)
    scraper: Scraper  # /metrics: the process's series, the database ones read at scrape time


@asynccontextmanager
async def runtime(
    settings: Settings, *, dispatch: bool, role: Role = "serve"
) -> AsyncIterator[Runtime]:
    """Build everything, run the dispatcher if asked, and tear down in order on exit.
    Once all is running, one line says what this process (``role``) works with."""
    tracing_started = tracing.start(settings)
    db = Database(settings.database_url)
    try:
        await migrate.ensure_schema(db.engine, migrate=settings.migrate_on_start)
        timeout = httpx.Timeout(settings.provider_timeout_seconds, connect=10.0)
        async with httpx.AsyncClient(timeout=timeout) as http, AsyncExitStack() as stack:
            registry = ProviderRegistry(settings, http)
            tools = await build_runners(settings, http, stack, db)
            engine = Engine(
                db,
                registry,
                lambda info: make_provider(info, http=http, settings=settings),
                max_context_messages=settings.context_max_messages,
                tools=tools,
                compaction=CompactionConfig(
                    settings.compaction_enabled,
                    settings.compaction_model,
                    settings.compaction_triggers_sleeptime,
                ),
            )
            control = RunControl()
            hub = Hub()
            callbacks = RunCallbacks(db, http, settings)
            vitals = Vitals()
            deps = TurnDeps(db, engine, TurnGate(), settings, control, hub, callbacks, trigger.fire)
            turns = TurnService(deps)
            services = Services(db, engine, settings, control, hub, turns, callbacks)
            dispatcher = Dispatcher(
                db,
                settings,
                control,
                services,
                on_reaped=callbacks.run_ended,
                vitals=vitals,
                dispatch=dispatch,
            )
            follower = Follower(
                db,
                hub,
                control,
                idle_seconds=settings.stream_keepalive_seconds,
                retention_seconds=settings.stream_retention_seconds,
            )
            rt = Runtime(
                settings,
                db,
                http,
                registry,
                turns,
                control,
                dispatcher,
                hub,
                follower,
                callbacks,
                vitals,
                tools,
                _mcp_service(settings, db),
                Scraper(db, refresh_seconds=settings.metrics_refresh_seconds),
            )
            try:
                async with (
                    _mcp(rt.mcp),
                    _listening(rt),
                    _dispatching(dispatcher),
                    _announced(rt, role, dispatch),
                ):
                    try:
                        yield rt
                    finally:
                        await turns.drain()
            finally:
                await callbacks.drain()  # last: the runs above may still call back
    finally:
        await db.dispose()
        if tracing_started:
            await tracing.stop()


@asynccontextmanager
async def _announced(rt: Runtime, role: Role, dispatch: bool) -> AsyncIterator[None]:
    """The startup line, logged once all it states is known. The sandbox's self-check may
    still be running when the process starts to serve; the line waits for it on a task of
    its own, awaited when the process stops."""

    async def announce() -> None:
        log.info(_STARTED[role], **_in_effect(rt, dispatch, role), **await rt.tools.described())

    task = asyncio.create_task(announce(), name="announce")
    try:
        yield
    finally:
        await task


def _in_effect(rt: Runtime, dispatch: bool, role: Role) -> dict[str, Any]:
    """What the startup line states: providers, database, auth mode, who runs what and the
    worker's probe port; never a key or a password."""
    settings = rt.settings
    worker_port = {"worker_http_port": settings.worker_http_port} if role == "worker" else {}
    return {
        "version": __version__,
        "owner": rt.control.owner,
        "providers": rt.registry.describe(),
        "database": describe_database(settings.database_url),
        "auth": settings.auth.value,
        "dispatcher": "on" if dispatch else "off",
        "worker_concurrency": settings.worker_concurrency if dispatch else 0,
        "lease_seconds": settings.lease_seconds,
        **worker_port,
    }


def describe_database(url: str) -> dict[str, str]:
    """The dialect and where the data lives: a SQLite file's absolute path, or a server URL
    with its password masked and its query (which may carry one too) left out."""
    parsed = make_url(url)
    dialect = parsed.get_backend_name()
    if dialect == "sqlite":
        name = parsed.database or ":memory:"
        location = name if name == ":memory:" else str(Path(name).resolve())
    else:
        location = parsed.set(query={}).render_as_string(hide_password=True)
    return {"dialect": dialect, "location": location}


def _mcp_service(settings: Settings, db: Database) -> MCPService:
    pool = MCPPool(
        connect_timeout=settings.mcp_connect_timeout_seconds,
        call_timeout=settings.mcp_timeout_seconds,
        allow_stdio=settings.mcp_stdio,
    )
    return MCPService(db, pool)


@asynccontextmanager
async def _mcp(service: MCPService) -> AsyncIterator[None]:
    """MCP tool calls go through ``service`` while the process runs; at the end every MCP
    session is closed (stdio servers are stopped), after the runs that used them."""
    mcp_runner.install(service)
    try:
        yield
    finally:
        mcp_runner.install(None)
        await service.pool.close()


@asynccontextmanager
async def _dispatching(dispatcher: Dispatcher) -> AsyncIterator[None]:
    """The dispatcher (or, with dispatching off, only its heartbeat) for the process's life."""
    task = asyncio.create_task(dispatcher.run(), name="dispatcher")
    try:
        yield
    finally:
        dispatcher.stop()
        await task


@asynccontextmanager
async def _listening(rt: Runtime) -> AsyncIterator[None]:
    """On PostgreSQL, listen for queued and ended runs of every process (reconnecting)."""
    if rt.db.is_sqlite:
        yield
        return
    # Imported here: asyncpg (about 5% of the start-up imports) loads on PostgreSQL only.
    from app.worker.listener import RunListener  # noqa: PLC0415

    settings = rt.settings
    listener = RunListener(
        rt.db.url,
        rt.control,
        rt.vitals,
        poll_seconds=settings.poll_seconds,
        retry_cap_seconds=settings.lease_seconds / 3,
    )
    task = asyncio.create_task(listener.run(), name="listener")
    try:
        yield
    finally:
        listener.stop()
        # A bug that stopped it was logged and recorded in the vitals when it happened.
        await asyncio.gather(task, return_exceptions=True)


def started() -> None:
    """A process's start-up is over (``sleeptime serve``'s application, ``sleeptime worker``'s
    runtime): what it made lives as long as the process, and is moved out of the cyclic
    collector's view, as ``app.cli`` does with what importing made. Otherwise each full
    collection walks it again, a pause of about 15 ms in whichever turn it falls on. A
    collection comes first, so that start-up's garbage is not kept for good. Never in a
    process that builds runtimes one after another (the tests): their garbage would stay."""
    gc.collect()
    gc.freeze()
