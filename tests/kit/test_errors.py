"""Every error answer is Letta-shaped (``{"detail": ...}``) and carries the request id, the
500 of a bug included (Starlette answers that one from outside every middleware)."""

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest
import uvicorn
from fastapi import FastAPI, Request

from app.kit.errors import Conflict, NotFound, TurnFailed, install_error_handlers
from app.kit.observability import ObservabilityMiddleware


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/bug")
    async def bug() -> None:
        raise RuntimeError("a bug")

    @app.get("/missing")
    async def missing() -> None:
        raise NotFound("Agent agent-x not found")

    @app.get("/conflict")
    async def conflict() -> None:
        raise Conflict("busy")

    @app.get("/provider")
    async def provider() -> None:
        raise TurnFailed(
            429, "rate limited", run_id="run-1", error_type="llm_rate_limit", cause="slow down"
        )

    install_error_handlers(app)
    app.add_middleware(ObservabilityMiddleware)
    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.mark.parametrize(
    ("path", "status", "detail"),
    [
        ("/bug", 500, "An unknown error occurred"),
        ("/missing", 404, "Agent agent-x not found"),
        ("/conflict", 409, "busy"),
        ("/provider", 429, "rate limited: slow down (run run-1)"),
    ],
)
async def test_error_answers_keep_the_request_id(
    http: httpx.AsyncClient, path: str, status: int, detail: str
) -> None:
    response = await http.get(path, headers={"X-Request-ID": "req-7"})
    assert response.status_code == status
    assert response.json()["detail"] == detail
    assert response.headers.get_list("x-request-id") == ["req-7"]


async def test_retry_advice(http: httpx.AsyncClient) -> None:
    assert (await http.get("/conflict")).headers["x-should-retry"] == "false"
    provider = await http.get("/provider")
    assert provider.headers["x-should-retry"] == "false"
    assert provider.json() == {
        "detail": "rate limited: slow down (run run-1)",
        "run_id": "run-1",
        "error": {"type": "llm_rate_limit", "message": "rate limited", "detail": "slow down"},
    }
    assert "x-should-retry" not in (await http.get("/missing")).headers


async def test_a_bug_leaves_the_connection_usable() -> None:
    """A real server answers a bug's 500 and serves the next request on the same connection
    (the client's port, seen by the app, stays the same)."""
    app = _app()

    @app.get("/port")
    async def port(request: Request) -> int:
        assert request.client is not None
        return request.client.port

    # A socket already listening: connections wait in its backlog until the server accepts.
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    bound = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound}") as client:
            before = (await client.get("/port")).json()
            bug = await client.get("/bug", headers={"X-Request-ID": "req-9"})
            assert bug.status_code == 500 and bug.headers["x-request-id"] == "req-9"
            assert bug.json() == {"detail": "An unknown error occurred"}
            assert (await client.get("/port")).json() == before
    finally:
        server.should_exit = True
        await task
        sock.close()
