"""The worker's probe port: ``/livez``, ``/readyz`` and ``/metrics`` served by ``sleeptime
worker`` on ``SLEEPTIME_WORKER_HTTP_PORT`` (none when it is unset), so a worker is observable
on its own: a supervisor restarts it when it is not live, an orchestrator sees it not ready
when its database is away, and Prometheus scrapes its provider, token and reaper series.

A small Starlette app under a uvicorn server on the worker's own event loop. The worker keeps
its signal handlers (the server installs none), and the port is bound before anything is
served, so a port in use is one clear error at start.
"""

import asyncio
import socket
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager, contextmanager

import structlog
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.health import probes
from app.kit import migrate
from app.runtime import Runtime

log = structlog.get_logger("app.worker")


class WorkerHTTPError(OSError):
    """The probe port could not be opened (in use, or not ours to bind)."""


class _Server(uvicorn.Server):
    @contextmanager
    def capture_signals(self) -> Generator[None]:
        # The worker's own handlers stop it (and this server with it).
        yield


def probe_app(rt: Runtime) -> Starlette:
    head = migrate.head_revision()

    async def livez(_request: Request) -> JSONResponse:
        probe = probes.liveness(rt.vitals)
        return JSONResponse(probe.body, status_code=probe.status_code)

    async def readyz(_request: Request) -> JSONResponse:
        probe = await probes.readiness(rt.db, rt.vitals, head=head, lease_seconds=None)
        return JSONResponse(probe.body, status_code=probe.status_code)

    async def metrics(_request: Request) -> Response:
        return await rt.scraper.response()

    routes = [Route("/livez", livez), Route("/readyz", readyz), Route("/metrics", metrics)]
    return Starlette(routes=routes)


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise WorkerHTTPError(
            f"cannot serve the worker's probes on {host}:{port} ({exc.strerror}): choose "
            "another SLEEPTIME_WORKER_HTTP_PORT"
        ) from exc
    sock.set_inheritable(True)
    return sock


@asynccontextmanager
async def serving(rt: Runtime) -> AsyncIterator[None]:
    """Serve the probes while the block runs, when a port is set."""
    port, host = rt.settings.worker_http_port, rt.settings.worker_http_host
    if port is None:
        yield
        return
    sock = _bind(host, port)
    config = uvicorn.Config(
        probe_app(rt), log_config=None, access_log=False, lifespan="off", loop="none"
    )
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]), name="worker-http")
    log.info("worker.http_serving", host=host, port=sock.getsockname()[1])
    try:
        yield
    finally:
        server.should_exit = True
        await task
        sock.close()
