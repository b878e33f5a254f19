"""Fixtures of the MCP tests: the test MCP server as a stdio command, and the same server
over streamable HTTP on loopback (in a thread, like the fake model server)."""

import asyncio
import socket
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from tests.mcp.mcp_server import build

SERVER = Path(__file__).with_name("mcp_server.py")


def stdio_config(**env: str) -> dict[str, Any]:
    """``config`` of a ``/v1/mcp-servers`` body that starts the test server."""
    return {
        "mcp_server_type": "stdio",
        "command": sys.executable,
        "args": [str(SERVER)],
        "env": env or None,
    }


@dataclass
class HTTPServer:
    url: str
    headers: list[dict[str, str]] = field(default_factory=list)  # of every request


class _Recording:
    def __init__(self, app: ASGIApp, seen: list[dict[str, str]]) -> None:
        self.app = app
        self.seen = seen

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            self.seen.append({k.decode(): v.decode() for k, v in scope["headers"]})
        await self.app(scope, receive, send)


@pytest.fixture(scope="session")
def mcp_http() -> Iterator[HTTPServer]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    served = HTTPServer(url=f"http://127.0.0.1:{port}/mcp")
    app = _Recording(build().streamable_http_app(), served.headers)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        yield served
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
