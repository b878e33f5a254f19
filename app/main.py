"""The application factory and its lifespan (the runtime: database, clients, dispatcher)."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from fastapi import APIRouter, Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from starlette.routing import NoMatchFound

from app import __version__, letta_routes
from app.agentfile.endpoints import router as agent_files_router
from app.agents.endpoints import block_agents_router
from app.agents.endpoints import router as agents_router
from app.archival.endpoints import router as archival_router
from app.blocks.endpoints import router as blocks_router
from app.compaction.endpoints import router as context_router
from app.config import Settings, get_settings
from app.console.endpoints import router as console_router
from app.conversations.compact import router as conversation_compact_router
from app.conversations.endpoints import router as conversations_router
from app.groups.endpoints import router as groups_router
from app.health.endpoints import router as health_router
from app.kit import migrate
from app.kit.errors import install_error_handlers
from app.kit.logging import configure_logging
from app.kit.observability import ObservabilityMiddleware
from app.kit.openapi import install_openapi
from app.kit.schemas import refuse_unstorable_parameters
from app.kit.tracing import TracingMiddleware
from app.mcp.endpoints import legacy_router as mcp_legacy_router
from app.mcp.endpoints import router as mcp_router
from app.messages.endpoints import router as messages_router
from app.messages.endpoints import run_messages_router
from app.providers.endpoints import router as models_router
from app.runs.endpoints import router as runs_router
from app.runtime import runtime, started
from app.sandbox.endpoints import router as tool_run_router
from app.streaming.endpoints import router as run_stream_router
from app.tags.endpoints import router as tags_router
from app.tools.endpoints import router as tools_router
from app.turns.endpoints import router as turns_router
from app.turns.endpoints import run_router as turn_runs_router
from app.turns.fast import JsonTurnFastPath

# The turn's routes come first: a turn's request is matched at its first router instead of
# after every route of six others. No path of theirs is a path of a router before them in
# the old order, so no request finds another route than it did.
ROUTERS = (
    turns_router,
    turn_runs_router,
    health_router,
    models_router,
    blocks_router,
    block_agents_router,
    agent_files_router,
    agents_router,
    context_router,
    groups_router,
    messages_router,
    runs_router,
    run_stream_router,
    run_messages_router,
    tool_run_router,
    mcp_legacy_router,
    tools_router,
    mcp_router,
    tags_router,
    conversations_router,
    conversation_compact_router,
    archival_router,
)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings: Settings = app.state.settings
    async with runtime(settings, dispatch=settings.dispatcher) as rt:
        app.state.runtime = rt
        app.state.db = rt.db
        app.state.http = rt.http
        app.state.providers = rt.registry
        app.state.turns = rt.turns
        app.state.control = rt.control
        app.state.tools = rt.tools
        app.state.mcp = rt.mcp
        app.state.schema_head = migrate.head_revision()
        if not app.state.settle:
            yield
            return
        # On a thread while the server already answers; awaited before the runtime stops.
        app.state.settled = asyncio.create_task(asyncio.to_thread(_settle, app), name="settle")
        try:
            yield
        finally:
            await app.state.settled


def _settle(app: FastAPI) -> None:
    """The end of a served process's start-up. FastAPI analyses the routes (their parameters'
    and responses' adapters) on the first request that walks them: about a sixth of a second
    the first client would wait. It is done here instead, by a lookup that walks them all
    (FastAPI builds them under a lock of its own, so a request meanwhile waits at most for
    one router), before what start-up made is set aside for the process's life
    (``runtime.started``)."""
    with suppress(NoMatchFound):
        app.url_path_for("")  # no route is named so: the lookup walks all of them
    started()


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
# Letta's routes that ROUTERS do not serve answer 501 (see app.letta_routes).
_NOT_SUPPORTED_FIRST, _NOT_SUPPORTED_LAST = letta_routes.not_supported_routers(ROUTERS)


def create_app(settings: Settings | None = None, *, settle: bool = False) -> FastAPI:
    """The application. ``settle``: the process serves only it (``sleeptime serve``), and its
    start-up ends with ``_settle``; not for an app among others in one process (the tests)."""
    settings = settings or get_settings()
    configure_logging(settings.log_level, settings.log_format)
    app = FastAPI(
        title="sleeptime-server",
        version=__version__,
        lifespan=lifespan,
        redirect_slashes=False,
        dependencies=[Depends(refuse_unstorable_parameters)],
        # FastAPI's own OpenTelemetry hooks stay off: they would look up the global providers
        # on every request, and the server's spans are ``app.kit.tracing``'s (opt-in).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.settle = settle
    for router in (_NOT_SUPPORTED_FIRST, *ROUTERS, _NOT_SUPPORTED_LAST):
        app.include_router(router)
    app.include_router(console_router)
    install_error_handlers(app)
    install_openapi(app)
    app.add_middleware(JsonTurnFastPath)  # inside the observability middleware
    if settings.otel_enabled:
        app.add_middleware(TracingMiddleware)  # inside: an unhandled error reaches its span
    app.add_middleware(ObservabilityMiddleware)
    if settings.cors_origins:
        # Outermost, so preflights are answered before anything else and errors carry it too.
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID"],
        )
    return app


def create_served_app() -> FastAPI:
    """What ``sleeptime serve`` runs: the application, settled at the end of its start-up."""
    return create_app(settle=True)
