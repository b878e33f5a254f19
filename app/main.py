"""The application factory and its lifespan: database, HTTP client, provider registry."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from app import __version__
from app.agents.endpoints import router as agents_router
from app.blocks.endpoints import router as blocks_router
from app.config import Settings, get_settings
from app.engine.loop import Engine
from app.groups.endpoints import router as groups_router
from app.health.endpoints import router as health_router
from app.kit import migrate
from app.kit.db import Database
from app.kit.errors import install_error_handlers
from app.kit.logging import configure_logging
from app.kit.observability import ObservabilityMiddleware
from app.messages.endpoints import router as messages_router
from app.messages.service import TurnDeps, TurnService
from app.providers.endpoints import router as models_router
from app.providers.factory import make_provider
from app.providers.registry import ProviderRegistry
from app.runs.admission import TurnGate
from app.runs.endpoints import router as runs_router

ROUTERS = (
    health_router,
    models_router,
    blocks_router,
    agents_router,
    groups_router,
    messages_router,
    runs_router,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
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
            app.state.db = db
            app.state.http = http
            app.state.providers = registry
            app.state.turns = TurnService(TurnDeps(db, engine, TurnGate(), settings))
            app.state.schema_head = migrate.head_revision()
            yield
    finally:
        await db.dispose()


def _add_slashless_aliases(router: APIRouter) -> None:
    """Collection routes are declared as ``/v1/agents/`` (what the SDK calls); answer
    ``/v1/agents`` too, directly rather than through a redirect."""
    for route in list(router.routes):
        if isinstance(route, APIRoute) and route.path.endswith("/") and route.path != "/":
            router.add_api_route(
                route.path.removeprefix(router.prefix).rstrip("/"),
                route.endpoint,
                methods=sorted(route.methods or ()),
                response_model=route.response_model,
                include_in_schema=False,
            )


for _router in ROUTERS:
    _add_slashless_aliases(_router)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = FastAPI(
        title="sleeptime-server",
        version=__version__,
        lifespan=lifespan,
        redirect_slashes=False,
    )
    app.state.settings = settings
    for router in ROUTERS:
        app.include_router(router)
    install_error_handlers(app)
    app.add_middleware(ObservabilityMiddleware)
    return app
