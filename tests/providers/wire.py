"""Test helpers for the provider adapters: a scripted HTTP endpoint on ``httpx.MockTransport``,
SSE body builders and a sleep that only records, so retry tests never wait."""

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx

from app.config import Settings
from app.providers.anthropic import AnthropicProvider
from app.providers.base import LLMProvider, StreamEnd, StreamItem
from app.providers.openai import OpenAIProvider

Reply = httpx.Response | Exception


def settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "openai_api_key": "sk-test",
        "anthropic_api_key": "ak-test",
        "provider_timeout_seconds": 30.0,
        "provider_max_retries": 3,
        "provider_retry_base_seconds": 0.5,
        "provider_retry_max_seconds": 10.0,
    }
    values.update(overrides)
    return Settings(**values)


def openai_on(wire: "Wire") -> OpenAIProvider:
    """The OpenAI adapter on a scripted wire, with the test settings."""
    return OpenAIProvider(
        wire.client, base_url="https://api.openai.test/v1", api_key="k", settings=settings()
    )


def anthropic_on(wire: "Wire") -> AnthropicProvider:
    """The Anthropic adapter on a scripted wire, with the test settings."""
    return AnthropicProvider(
        wire.client, base_url="https://api.anthropic.test", api_key="k", settings=settings()
    )


class Wire:
    """Answers requests with scripted replies in order and keeps every request it saw."""

    def __init__(self) -> None:
        self.replies: list[Reply] = []
        self.requests: list[httpx.Request] = []
        self.client = httpx.AsyncClient(transport=httpx.MockTransport(self._handle))

    def reply(self, *replies: Reply) -> None:
        self.replies.extend(replies)

    async def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if not self.replies:
            raise AssertionError(f"unexpected request {request.method} {request.url}")
        reply = self.replies.pop(0)
        if isinstance(reply, Exception):
            raise reply
        return reply

    def body(self, index: int = -1) -> Any:
        return json.loads(self.requests[index].content)


class Sleeps:
    """A stand-in for ``asyncio.sleep`` that records the delays it was asked for."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def json_reply(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
    return httpx.Response(status, json=payload, headers=headers)


def openai_sse(*chunks: Any, done: bool = True) -> httpx.Response:
    """An OpenAI stream body: ``data: <json>`` events, then ``data: [DONE]``."""
    lines = [f"data: {json.dumps(chunk)}\n\n" for chunk in chunks]
    if done:
        lines.append("data: [DONE]\n\n")
    return _sse("".join(lines).encode())


def anthropic_sse(*events: dict[str, Any]) -> httpx.Response:
    """An Anthropic stream body: every event named on its own ``event:`` line."""
    text = "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)
    return _sse(text.encode())


def broken_sse(first: bytes, error: Exception) -> httpx.Response:
    """A stream that delivers ``first`` and then fails, as a dropped connection does."""

    async def body() -> AsyncIterator[bytes]:
        yield first
        raise error

    return httpx.Response(200, content=body(), headers={"content-type": "text/event-stream"})


def _sse(content: bytes) -> httpx.Response:
    return httpx.Response(200, content=content, headers={"content-type": "text/event-stream"})


async def collect(provider: LLMProvider, request: Any) -> list[StreamItem]:
    return [item async for item in provider.stream(request)]


def final(items: list[StreamItem]) -> StreamEnd:
    last = items[-1]
    assert isinstance(last, StreamEnd)
    return last


async def call(provider: LLMProvider, request: Any, *, streaming: bool) -> object:
    """One request either way, so error tests can cover both paths with one body."""
    if streaming:
        return await collect(provider, request)
    return await provider.complete(request)


async def drain(stream: AsyncIterator[StreamItem], seen: list[StreamItem]) -> None:
    """Consume a stream into ``seen``, so a test can check what arrived before a failure."""
    async for item in stream:
        seen.append(item)
