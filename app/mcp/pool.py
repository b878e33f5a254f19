"""MCP client sessions, one per server per process, reused by every call.

A session lives in a task of its own (``_Connection``): the SDK's transports are anyio
context managers that must be entered and left in one task, while calls come from request
handlers and turns. A call that finds its session broken (the stdio process died, the HTTP
server went away) drops it, connects again and tries once more. Every connection attempt is
bounded by ``connect_timeout`` and every call by ``call_timeout``. ``close`` ends every
session (stdio servers are stopped) when the process shuts down.

    MCPFailure                 what a caller turns into a 4xx/5xx answer or an error result
    ├── MCPUnavailable         could not connect, or the session broke twice
    ├── MCPTimeout             the server did not answer in time
    └── MCPCallFailed          the server answered the call with a protocol error
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import structlog
from pydantic import ValidationError

from app.mcp.config import ServerConfig, Transport

if TYPE_CHECKING:
    from mcp import Client
    from mcp_types import CallToolResult, Tool

# The SDK (a fifth of the server's imports) is imported when the first session is opened,
# not when the process starts: most servers never talk to an MCP server.

log = structlog.get_logger("app.mcp")

T = TypeVar("T")
_PAGE_LIMIT = 100  # pages of a tools listing read before giving up on a paginator
_CLOSE_SECONDS = 10.0  # a stdio server gets its stdin closed, then SIGTERM, then SIGKILL

# What a session that stopped working raises (a dead stdio process, a dropped connection);
# and the HTTP client's transport errors.
_BROKEN: tuple[type[BaseException], ...] = (
    anyio.ClosedResourceError,
    anyio.BrokenResourceError,
    anyio.EndOfStream,
    OSError,
)


class MCPFailure(Exception):
    def __init__(self, server: str, message: str) -> None:
        super().__init__(message)
        self.server = server
        self.message = message


class MCPUnavailable(MCPFailure):
    pass


class MCPTimeout(MCPFailure):
    pass


class MCPCallFailed(MCPFailure):
    pass


class StdioDisabled(MCPFailure):
    pass


def describe(exc: BaseException) -> str:
    """A one-line account of a failure; the leaves of an exception group, which is how
    anyio task groups report what went wrong inside them."""
    import httpx2  # noqa: PLC0415 - see the SDK's import above

    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(dict.fromkeys(describe(e) for e in exc.exceptions))
    if isinstance(exc, httpx2.HTTPStatusError):
        return f"HTTP {exc.response.status_code} from {exc.request.url}"
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _broken(exc: BaseException) -> bool:
    import httpx2  # noqa: PLC0415
    from mcp.shared.exceptions import MCPError  # noqa: PLC0415
    from mcp_types.jsonrpc import CONNECTION_CLOSED  # noqa: PLC0415

    if isinstance(exc, BaseExceptionGroup):
        return all(_broken(e) for e in exc.exceptions)
    if isinstance(exc, MCPError):
        return exc.code == CONNECTION_CLOSED
    return isinstance(exc, _BROKEN | httpx2.TransportError)


class _Connection:
    """One live session and the task that holds it open."""

    def __init__(self, config: ServerConfig, read_timeout: float) -> None:
        self.config = config
        self._read_timeout = read_timeout
        self._stop = asyncio.Event()
        self._ready: asyncio.Future[Client] = asyncio.get_running_loop().create_future()
        self._task: asyncio.Task[None] | None = None
        self.alive = False

    @property
    def client(self) -> Client:
        return self._ready.result()

    async def open(self, limit: float) -> None:
        self._task = asyncio.create_task(self._hold(), name=f"mcp:{self.config.name}")
        try:
            async with asyncio.timeout(limit):
                await asyncio.shield(self._ready)
        except TimeoutError:
            await self.close()
            raise MCPTimeout(
                self.config.name, f"no answer from MCP server '{self.config.name}' in {limit:g}s"
            ) from None
        except (MCPFailure, asyncio.CancelledError):
            await self.close()  # a caller that gave up leaves no server running
            raise

    async def _hold(self) -> None:
        try:
            async with AsyncExitStack() as stack:
                client = await stack.enter_async_context(self._client(stack))
                self.alive = True
                self._ready.set_result(client)
                await self._stop.wait()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - handed to the caller, or logged below
            if not self._ready.done():
                self._ready.set_exception(
                    MCPUnavailable(
                        self.config.name,
                        f"cannot connect to MCP server '{self.config.name}': {describe(exc)}",
                    )
                )
            else:
                log.warning("mcp.session_lost", server=self.config.name, error=describe(exc))
        finally:
            self.alive = False

    def _client(self, stack: AsyncExitStack) -> Client:
        import httpx2  # noqa: PLC0415
        from mcp import Client, StdioServerParameters  # noqa: PLC0415
        from mcp.client.sse import sse_client  # noqa: PLC0415
        from mcp.client.streamable_http import streamable_http_client  # noqa: PLC0415

        config = self.config
        if config.transport is Transport.stdio:
            params = StdioServerParameters(
                command=config.command or "", args=list(config.args), env=dict(config.env)
            )
            return Client(params, read_timeout_seconds=self._read_timeout, cache=None)
        url = config.url or ""
        headers = dict(config.headers)
        if config.transport is Transport.sse:
            transport = sse_client(url, headers=headers, sse_read_timeout=self._read_timeout * 5)
            return Client(
                transport, mode="legacy", read_timeout_seconds=self._read_timeout, cache=None
            )
        http = httpx2.AsyncClient(
            headers=headers, timeout=httpx2.Timeout(30.0, read=self._read_timeout * 5)
        )
        stack.push_async_callback(http.aclose)
        return Client(
            streamable_http_client(url, http_client=http),
            read_timeout_seconds=self._read_timeout,
            cache=None,
        )

    async def close(self) -> None:
        self._stop.set()
        task = self._task
        if task is None or task.done():
            return
        if not self._ready.done():  # still connecting: nothing to end politely
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            return
        try:
            async with asyncio.timeout(_CLOSE_SECONDS):
                await asyncio.shield(task)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


class MCPPool:
    """The process's MCP sessions, by configuration (one per server, or one per distinct
    set of filled-in headers when its headers have templates)."""

    def __init__(
        self, *, connect_timeout: float, call_timeout: float, allow_stdio: bool = True
    ) -> None:
        self.connect_timeout = connect_timeout
        self.call_timeout = call_timeout
        self.allow_stdio = allow_stdio
        self._connections: dict[ServerConfig, _Connection] = {}
        self._locks: dict[ServerConfig, asyncio.Lock] = {}
        self._closed = False

    def check(self, config: ServerConfig) -> None:
        if config.transport is Transport.stdio and not self.allow_stdio:
            raise StdioDisabled(
                config.name,
                f"MCP server '{config.name}' is a stdio server, and stdio MCP servers are "
                "disabled on this server (SLEEPTIME_MCP_STDIO=false)",
            )

    async def list_tools(self, config: ServerConfig) -> list[Tool]:
        return await self._call(config, _all_tools)

    async def call_tool(
        self, config: ServerConfig, name: str, arguments: dict[str, Any]
    ) -> CallToolResult:
        async def call(client: Client) -> CallToolResult:
            return await client.call_tool(name, arguments)

        return await self._call(config, call)

    async def probe(self, config: ServerConfig) -> list[Tool]:
        """The tools of a server that is not stored, over a session of its own, closed after."""
        self.check(config)
        connection = _Connection(config, self.call_timeout)
        await connection.open(self.connect_timeout)
        try:
            return await self._bounded(config, _all_tools(connection.client))
        finally:
            await connection.close()

    async def discard(self, server_id: str, keep_revision: str | None = None) -> None:
        """Close the sessions of a server that was changed (all but those of the revision
        kept) or deleted."""
        stale = [
            config
            for config in self._connections
            if config.server_id == server_id and config.revision != keep_revision
        ]
        for config in stale:
            await self._connections.pop(config).close()

    async def close(self) -> None:
        self._closed = True  # a call still running when the process stops opens no session
        connections = list(self._connections.values())
        self._connections.clear()
        await asyncio.gather(*(c.close() for c in connections))

    async def _call(self, config: ServerConfig, op: Callable[[Client], Awaitable[T]]) -> T:
        self.check(config)
        for attempt in (1, 2):
            connection = await self._connection(config)
            try:
                return await self._bounded(config, op(connection.client))
            except MCPFailure:
                raise
            except Exception as exc:
                from mcp.shared.exceptions import MCPError  # noqa: PLC0415

                if not _broken(exc) and connection.alive:
                    if isinstance(exc, MCPError):
                        raise MCPCallFailed(config.name, exc.message) from exc
                    if isinstance(exc, ValidationError):
                        raise MCPCallFailed(
                            config.name, f"the answer is not valid MCP ({describe(exc)})"
                        ) from exc
                    raise
                await self._drop(connection)
                if attempt == 2:
                    raise MCPUnavailable(
                        config.name,
                        f"MCP server '{config.name}' is unreachable: {describe(exc)}",
                    ) from exc
                log.info("mcp.reconnecting", server=config.name, error=describe(exc))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _bounded(self, config: ServerConfig, call: Awaitable[T]) -> T:
        try:
            async with asyncio.timeout(self.call_timeout):
                return await call
        except TimeoutError:
            raise MCPTimeout(
                config.name,
                f"MCP server '{config.name}' did not answer within {self.call_timeout:g}s",
            ) from None

    async def _connection(self, config: ServerConfig) -> _Connection:
        current = self._connections.get(config)
        if current is not None and current.alive:
            return current
        lock = self._locks.setdefault(config, asyncio.Lock())
        async with lock:
            current = self._connections.get(config)
            if current is not None and current.alive:
                return current
            if self._closed:
                raise MCPUnavailable(config.name, "this server is shutting down")
            if current is not None:
                await self._drop(current)
            await self.discard(config.server_id, keep_revision=config.revision)
            connection = _Connection(config, self.call_timeout)
            await connection.open(self.connect_timeout)
            self._connections[config] = connection
            log.info("mcp.connected", server=config.name, transport=config.transport.value)
            return connection

    async def _drop(self, connection: _Connection) -> None:
        if self._connections.get(connection.config) is connection:
            del self._connections[connection.config]
        await connection.close()


async def _all_tools(client: Client) -> list[Tool]:
    tools: list[Tool] = []
    cursor: str | None = None
    for _ in range(_PAGE_LIMIT):
        page = await client.list_tools(cursor=cursor)
        tools.extend(page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    return tools
