"""A small OpenAI-compatible server on loopback, run in a background thread for tests.

It answers what the provider code asks of a real endpoint; tests configure its model list.
"""

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route


@dataclass
class FakeLLMState:
    models: list[str] = field(default_factory=lambda: ["fake-model-small", "fake-model-large"])
    requests: list[tuple[str, str]] = field(default_factory=list)


def _app(state: FakeLLMState) -> Starlette:
    async def models(request: Request) -> JSONResponse:
        state.requests.append((request.method, request.url.path))
        data = [{"id": m, "object": "model", "owned_by": "fake"} for m in state.models]
        return JSONResponse({"object": "list", "data": data})

    return Starlette(routes=[Route("/v1/models", models)])


@dataclass
class FakeLLMServer:
    state: FakeLLMState
    base_url: str


@contextmanager
def run_fake_llm() -> Iterator[FakeLLMServer]:
    """Serve the fake in a thread. The socket listens before the thread starts, so clients
    can connect at once (the kernel queues them) and nobody has to wait for readiness."""
    state = FakeLLMState()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(_app(state), log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        yield FakeLLMServer(state=state, base_url=f"http://127.0.0.1:{port}/v1")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
