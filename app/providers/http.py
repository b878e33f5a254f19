"""The HTTP exchange both adapters make: POST a JSON body and read a JSON object back, or read
the reply as a Server-Sent Events stream of JSON objects. Transport failures and error
statuses leave here already translated into the provider error tree."""

import json
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from typing import Any

import httpx
import orjson

from app.providers.assembly import decode_object, sse_data
from app.providers.base import ProviderError, StreamIncompleteError
from app.providers.retry import broken_streams, transport_errors

StatusError = Callable[[httpx.Response], ProviderError]
DONE = "[DONE]"


def encoded(body: dict[str, Any]) -> bytes:
    """A request body as JSON. A step's request carries the whole window and every tool's
    schema, tens of kilobytes that ``json.dumps`` takes a good part of a turn's CPU to
    write; orjson writes the same compact UTF-8 JSON. What orjson refuses (an integer
    beyond 64 bits, a key that is not a string) is written as httpx itself would."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError:
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
        return text.encode("utf-8")


class JsonEndpoint:
    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        url: str,
        headers: dict[str, str],
        timeout: float,
        provider: str,
        status_error: StatusError,
    ) -> None:
        self._http = http
        self._url = url
        self._headers = {**headers, "content-type": "application/json"}
        self._timeout = timeout
        self._provider = provider
        self._status_error = status_error

    async def post(self, body: dict[str, Any]) -> dict[str, Any]:
        with transport_errors(self._provider):
            response = await self._http.post(
                self._url, content=encoded(body), headers=self._headers, timeout=self._timeout
            )
        if not response.is_success:
            raise self._status_error(response)
        return decode_object(response.content, what=f"{self._provider} reply")

    async def events(
        self, body: dict[str, Any], *, done_marker: bool
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The streamed reply's JSON objects, up to a ``[DONE]`` marker. With ``done_marker``
        (OpenAI-compatible streams end so) a body that ends or breaks before it is a cut
        stream; without, the adapter checks the vendor's own last event."""
        with transport_errors(self._provider):
            async with self._http.stream(
                "POST",
                self._url,
                content=encoded(body),
                headers=self._headers,
                timeout=self._timeout,
            ) as response:
                if not response.is_success:
                    await response.aread()
                    raise self._status_error(response)
                with broken_streams(self._provider):
                    async with aclosing(sse_data(response)) as lines:
                        async for data in lines:
                            if data == DONE:
                                return
                            yield decode_object(data, what=f"{self._provider} event")
        if done_marker:
            raise StreamIncompleteError(f"{self._provider} stream ended before {DONE}")
