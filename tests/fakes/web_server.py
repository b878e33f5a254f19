"""A small web server on loopback for the web tools' tests: pages of every kind a fetch
meets (HTML, text, other types, redirects, large bodies, a server that stalls) and fake
search backends (Exa's API and SearXNG's JSON API) that record what they were asked.

It runs in the tests' own event loop, so a stalled answer waits on an ``asyncio.Event`` the
fixture releases at the end.
"""

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

PAGE = b"""<!doctype html>
<html><head><title>The Test Page</title>
<style>body { color: red; }</style><script>var secret = "script text";</script></head>
<body>
<nav><a href="/">Home</a> | <a href="/about">Navigation link</a></nav>
<main>
<h1>Welcome</h1>
<p>This is <b>bold</b> and a <a href="https://example.org/doc">link</a>.</p>
<ul><li>first item</li><li>second item</li></ul>
<img src="x.png" alt="an image">
</main>
<footer>Footer text</footer>
</body></html>"""


@dataclass
class WebState:
    release: asyncio.Event = field(default_factory=asyncio.Event)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path?query)
    host_headers: list[str] = field(default_factory=list)
    exa_requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    searxng_requests: list[dict[str, str]] = field(default_factory=list)
    searxng_pages: list[list[dict[str, Any]]] = field(default_factory=list)
    exa_status: int = 200


@dataclass
class FakeWeb:
    state: WebState
    base_url: str  # http://127.0.0.1:<port>
    port: int

    def url(self, path: str) -> str:
        return self.base_url + path


class _Site:
    """The routes, over the state they record into and wait on."""

    def __init__(self, state: WebState) -> None:
        self.state = state
        self.app = self._build()

    async def page(self, request: Request) -> Response:
        return Response(PAGE, media_type="text/html")

    async def latin1(self, request: Request) -> Response:
        body = "<html><body><p>Caf\u00e9 cr\u00e8me</p></body></html>".encode("latin-1")
        return Response(body, headers={"Content-Type": "text/html; charset=iso-8859-1"})

    async def plain(self, request: Request) -> Response:
        return PlainTextResponse("line one\nline two <b>not html</b>\n")

    async def pdf(self, request: Request) -> Response:
        return Response(b"%PDF-1.7 binary", media_type="application/pdf")

    async def sized(self, request: Request) -> Response:
        size = int(request.path_params["size"])
        return Response(b"a" * size, media_type="text/plain")

    async def streamed(self, request: Request) -> Response:
        size = int(request.path_params["size"])

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(size // 1000):
                yield b"b" * 1000

        return StreamingResponse(chunks(), media_type="text/plain")  # no Content-Length

    async def bomb(self, request: Request) -> Response:
        body = gzip.compress(b"z" * 1_000_000)  # about 1 KB on the wire
        headers = {"Content-Encoding": "gzip", "Content-Type": "text/plain"}
        return Response(body, headers=headers)

    async def redirect(self, request: Request) -> Response:
        to = request.query_params["to"]
        return Response(
            status_code=int(request.query_params.get("status", 302)), headers={"Location": to}
        )

    async def loop(self, request: Request) -> Response:
        return Response(status_code=302, headers={"Location": "/loop"})

    async def status(self, request: Request) -> Response:
        return PlainTextResponse("nope", status_code=int(request.path_params["code"]))

    async def stall(self, request: Request) -> Response:
        await self.state.release.wait()
        return PlainTextResponse("too late")

    async def stall_body(self, request: Request) -> Response:
        async def chunks() -> AsyncIterator[bytes]:
            yield b"the beginning "
            await self.state.release.wait()
            yield b"and the end"

        return StreamingResponse(chunks(), media_type="text/plain")

    async def exa(self, request: Request) -> Response:
        body = await request.json()
        self.state.exa_requests.append((dict(request.headers), body))
        if self.state.exa_status != 200:
            return JSONResponse({"error": "Invalid API key"}, status_code=self.state.exa_status)
        results = [
            {
                "title": f"Result {i} for {body['query']}",
                "url": f"https://example.com/{i}",
                "publishedDate": f"2025-01-0{i + 1}T00:00:00.000Z",
                "author": "A. Writer",
                "text": f"full text {i}",
                "highlights": [f"highlight {i}"],
                "summary": f"summary {i}",
            }
            for i in range(min(int(body.get("numResults", 10)), 3))
        ]
        return JSONResponse({"requestId": "r1", "results": results})

    async def searxng(self, request: Request) -> Response:
        params = dict(request.query_params)
        self.state.searxng_requests.append(params)
        if params.get("format") != "json":
            return PlainTextResponse("Forbidden", status_code=403)
        index = int(params.get("pageno", "1")) - 1
        pages = self.state.searxng_pages
        results = pages[index] if index < len(pages) else []
        return JSONResponse({"query": params["q"], "number_of_results": 0, "results": results})

    async def record(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"").decode()
            self.state.requests.append(
                (scope["method"], scope["path"] + ("?" + query if query else ""))
            )
            headers = dict(scope["headers"])
            self.state.host_headers.append(headers.get(b"host", b"").decode())
        await self.app(scope, receive, send)

    def _build(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/page.html", self.page),
                Route("/latin1.html", self.latin1),
                Route("/plain.txt", self.plain),
                Route("/doc.pdf", self.pdf),
                Route("/sized/{size}", self.sized),
                Route("/streamed/{size}", self.streamed),
                Route("/bomb", self.bomb),
                Route("/redirect", self.redirect),
                Route("/loop", self.loop),
                Route("/status/{code}", self.status),
                Route("/stall", self.stall),
                Route("/stall-body", self.stall_body),
                Route("/exa/search", self.exa, methods=["POST"]),
                Route("/searxng/search", self.searxng),
            ]
        )


def _app(state: WebState) -> ASGIApp:
    return _Site(state).record


@asynccontextmanager
async def serve_fake_web(tls: tuple[str, str] | None = None) -> AsyncIterator[FakeWeb]:
    """Serve the fake in the running loop until the block ends; stalled answers are released
    then, so the server can stop. ``tls``: (certificate file, key file) to serve https."""
    state = WebState()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    certfile, keyfile = tls or (None, None)
    config = uvicorn.Config(
        _app(state),
        log_config=None,
        lifespan="off",
        interface="asgi3",
        ssl_certfile=certfile,
        ssl_keyfile=keyfile,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        scheme = "https" if tls else "http"
        yield FakeWeb(state, f"{scheme}://127.0.0.1:{port}", port)
    finally:
        state.release.set()
        server.should_exit = True
        await task
        sock.close()
