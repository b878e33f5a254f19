"""The assembled provider: adapter plus retries, over a scripted HTTP endpoint."""

import json

import httpx
import pytest

from app.providers.anthropic import AnthropicProvider
from app.providers.base import (
    LLMRequest,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderServerError,
    StreamItem,
    TextDelta,
)
from app.providers.factory import make_provider
from app.providers.openai import OpenAIProvider
from app.providers.registry import ModelInfo
from app.providers.retry import RetryingProvider
from tests.providers.wire import (
    Sleeps,
    Wire,
    anthropic_sse,
    broken_sse,
    collect,
    drain,
    final,
    json_reply,
    openai_sse,
    settings,
)

OPENAI = ModelInfo("openai", "gpt-4o-mini", "http://llm.test/v1", 128_000)
ANTHROPIC = ModelInfo("anthropic", "claude-x", "https://anthropic.test", 200_000)
REQUEST = LLMRequest(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])
HELLO = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 5, "completion_tokens": 1, "total_tokens": 6},
}
HELLO_CHUNK = {
    "id": "chatcmpl-1",
    "object": "chat.completion.chunk",
    "choices": [{"index": 0, "delta": {"content": "Hello"}, "finish_reason": "stop"}],
}
SERVER_ERROR = {"error": {"message": "The server had an error", "type": "server_error"}}


def test_adapters_are_chosen_by_provider_and_wrapped_in_retries(wire: Wire) -> None:
    for info, adapter in [(OPENAI, OpenAIProvider), (ANTHROPIC, AnthropicProvider)]:
        provider = make_provider(info, http=wire.client, settings=settings())
        assert isinstance(provider, RetryingProvider)
        assert isinstance(provider.inner, adapter)
        assert provider.provider == info.provider  # its attempts are counted under it
        assert provider.policy.max_retries == 3
        assert provider.policy.max_seconds == 10.0


@pytest.mark.parametrize(
    "info",
    [ModelInfo("gemini", "g", "https://g.test", 1), ModelInfo("openai", "m", "", 1)],
)
def test_unknown_or_unconfigured_providers(wire: Wire, info: ModelInfo) -> None:
    with pytest.raises(ProviderBadRequestError, match=r"gemini|not configured"):
        make_provider(info, http=wire.client, settings=settings())


async def test_keys_come_from_settings(wire: Wire) -> None:
    wire.reply(
        json_reply(HELLO),
        json_reply({"type": "message", "content": [{"type": "text", "text": "Hi"}]}),
    )
    config = settings(openai_api_key="sk-one", anthropic_api_key="ak-two")
    await make_provider(OPENAI, http=wire.client, settings=config).complete(REQUEST)
    await make_provider(ANTHROPIC, http=wire.client, settings=config).complete(REQUEST)
    assert wire.requests[0].headers["authorization"] == "Bearer sk-one"
    assert str(wire.requests[0].url) == "http://llm.test/v1/chat/completions"
    assert wire.requests[1].headers["x-api-key"] == "ak-two"
    assert str(wire.requests[1].url) == "https://anthropic.test/v1/messages"


async def test_complete_retries_then_succeeds(wire: Wire, sleeps: Sleeps) -> None:
    wire.reply(
        json_reply(SERVER_ERROR, 503),
        httpx.ConnectError("connection refused"),
        json_reply({"error": {"message": "Rate limit"}}, 429, {"Retry-After": "2"}),
        json_reply(HELLO),
    )
    provider = make_provider(OPENAI, http=wire.client, settings=settings(), sleep=sleeps)
    response = await provider.complete(REQUEST)
    assert response.text == "Hello"
    assert len(wire.requests) == 4
    assert [json.loads(r.content) for r in wire.requests] == [wire.body(0)] * 4
    first, second, third = sleeps.delays
    assert 0 <= first <= 0.5 and 0 <= second <= 1.0
    assert third == 2.0


async def test_retry_after_is_capped(wire: Wire, sleeps: Sleeps) -> None:
    wire.reply(json_reply({}, 429, {"Retry-After": "3600"}), json_reply(HELLO))
    provider = make_provider(OPENAI, http=wire.client, settings=settings(), sleep=sleeps)
    await provider.complete(REQUEST)
    assert sleeps.delays == [10.0]


async def test_retries_are_bounded(wire: Wire, sleeps: Sleeps) -> None:
    wire.reply(*(json_reply(SERVER_ERROR, 500) for _ in range(3)))
    config = settings(provider_max_retries=2)
    provider = make_provider(OPENAI, http=wire.client, settings=config, sleep=sleeps)
    with pytest.raises(ProviderServerError):
        await provider.complete(REQUEST)
    assert len(wire.requests) == 3
    assert len(sleeps.delays) == 2


async def test_permanent_errors_are_sent_once(wire: Wire, sleeps: Sleeps) -> None:
    wire.reply(json_reply({"error": {"message": "bad key"}}, 401))
    provider = make_provider(OPENAI, http=wire.client, settings=settings(), sleep=sleeps)
    with pytest.raises(ProviderAuthError):
        await provider.complete(REQUEST)
    assert len(wire.requests) == 1
    assert sleeps.delays == []


async def test_stream_retries_before_the_first_event(wire: Wire, sleeps: Sleeps) -> None:
    overloaded = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    wire.reply(
        json_reply(overloaded, 529, {"retry-after": "1"}),
        anthropic_sse(overloaded),
        anthropic_sse(
            {"type": "message_start", "message": {"usage": {"input_tokens": 3}}},
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text"}},
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Hi"},
            },
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn"},
                "usage": {"output_tokens": 2},
            },
            {"type": "message_stop"},
        ),
    )
    provider = make_provider(ANTHROPIC, http=wire.client, settings=settings(), sleep=sleeps)
    items = await collect(provider, REQUEST)
    assert items[0] == TextDelta("Hi")
    assert final(items).response.text == "Hi"
    assert len(wire.requests) == 3
    assert sleeps.delays[0] == 1.0 and len(sleeps.delays) == 2


async def test_stream_is_not_retried_after_the_first_item(wire: Wire, sleeps: Sleeps) -> None:
    first = f"data: {json.dumps(HELLO_CHUNK)}\n\n".encode()
    wire.reply(broken_sse(first, httpx.ReadError("connection reset")), openai_sse(HELLO_CHUNK))
    provider = make_provider(OPENAI, http=wire.client, settings=settings(), sleep=sleeps)
    seen: list[StreamItem] = []
    with pytest.raises(ProviderConnectionError):
        await drain(provider.stream(REQUEST), seen)
    assert seen == [TextDelta("Hello")]
    assert len(wire.requests) == 1
    assert sleeps.delays == []
