"""The long-lived parts of a process, built once: database, HTTP client, provider registry,
agent engine, turn service and the background-run dispatcher. ``sleeptime serve`` uses all of
them behind the HTTP API; ``sleeptime worker`` runs only the dispatcher."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import httpx

from app.config import Settings
from app.engine.loop import Engine
from app.kit import migrate
from app.kit.db import Database
from app.messages.service import TurnDeps, TurnService
from app.providers.factory import make_provider
from app.providers.registry import ProviderRegistry
from app.runs.admission import TurnGate
from app.runs.callbacks import RunCallbacks
from app.sleeptime.job import SleeptimeJob
from app.streaming.follow import Follower
from app.streaming.hub import Hub
from app.worker.control import RunControl
from app.worker.dispatcher import Dispatcher
from app.worker.listener import RunListener


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


@asynccontextmanager
async def runtime(settings: Settings, *, dispatch: bool) -> AsyncIterator[Runtime]:
    """Build everything, run the dispatcher if asked, and tear down in order on exit."""
    db = Database(settings.database_url)
    try:
        await migrate.ensure_schema(db.engine, migrate=settings.migrate_on_start)
        timeout = httpx.Timeout(settings.provider_timeout_seconds, connect=10.0)
        async with httpx.AsyncClient(timeout=timeout) as http:
            registry = ProviderRegistry(settings, http)
            engine = Engine(
                db,
                registry,
                lambda info: make_provider(info, http=http, settings=settings),
                max_context_messages=settings.context_max_messages,
            )
            control = RunControl()
            hub = Hub()
            callbacks = RunCallbacks(db, http, settings)
            turns = TurnService(TurnDeps(db, engine, TurnGate(), settings, control, hub, callbacks))
            job = SleeptimeJob(db, engine, settings, control, hub)
            dispatcher = Dispatcher(
                db,
                settings,
                control,
                {"async": turns.execute_queued, "sleeptime": job.execute},
                on_reaped=callbacks.run_ended,
            )
            follower = Follower(
                db,
                hub,
                control,
                idle_seconds=settings.stream_keepalive_seconds,
                retention_seconds=settings.stream_retention_seconds,
            )
            rt = Runtime(
                settings, db, http, registry, turns, control, dispatcher, hub, follower, callbacks
            )
            try:
                async with _listening(db, settings, control), _dispatching(dispatcher, dispatch):
                    try:
                        yield rt
                    finally:
                        await turns.drain()
            finally:
                await callbacks.drain()  # last: the runs above may still call back
    finally:
        await db.dispose()


@asynccontextmanager
async def _dispatching(dispatcher: Dispatcher, enabled: bool) -> AsyncIterator[None]:
    if not enabled:
        yield
        return
    task = asyncio.create_task(dispatcher.run(), name="dispatcher")
    try:
        yield
    finally:
        dispatcher.stop()
        await task


@asynccontextmanager
async def _listening(db: Database, settings: Settings, control: RunControl) -> AsyncIterator[None]:
    """On PostgreSQL, listen for queued and ended runs of every process (reconnecting)."""
    if db.is_sqlite:
        yield
        return
    listener = RunListener(db.url, control)
    stop = asyncio.Event()

    async def keep() -> None:
        while not stop.is_set():
            await listener.ensure()
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), settings.poll_seconds)

    task = asyncio.create_task(keep(), name="listener")
    try:
        yield
    finally:
        stop.set()
        await task
        await listener.close()
