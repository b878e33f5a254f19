"""A small HTTP receiver on loopback for completion callbacks, served in the test's own event
loop: it records every POST, answers with scripted status codes (200 once the script is
used up), can hold its answers until the test releases them, and lets tests wait for
arrivals on a condition instead of sleeping."""

import asyncio
import json
from collections import deque
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any


@dataclass
class CallbackReceiver:
    statuses: deque[int] = field(default_factory=deque)
    hold: asyncio.Event | None = None
    posts: list[dict[str, Any]] = field(default_factory=list)
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _server: asyncio.Server | None = None
    url: str = ""

    async def start(self) -> "CallbackReceiver":
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}/hooks/run-done"
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def wait_for(self, count: int) -> list[dict[str, Any]]:
        """The first ``count`` POSTs, once they have arrived (within 30 s)."""
        async with asyncio.timeout(30), self._arrived:
            await self._arrived.wait_for(lambda: len(self.posts) >= count)
        return self.posts[:count]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode().split("\r\n")
            headers = {
                k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            async with self._arrived:
                self.posts.append(
                    {"request": lines[0], "headers": headers, "body": json.loads(body or b"null")}
                )
                self._arrived.notify_all()
            if self.hold is not None:
                await self.hold.wait()
            status = self.statuses.popleft() if self.statuses else 200
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass  # the sender gave up (its timeout); nothing to answer
        finally:
            writer.close()
            with suppress(ConnectionError):
                await writer.wait_closed()
