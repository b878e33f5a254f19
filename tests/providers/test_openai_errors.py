"""How the OpenAI adapter fails: HTTP statuses, transport errors, malformed replies."""

import json
from typing import Any

import httpx
import pytest

from app.providers.base import (
    ContextWindowExceededError,
    InvalidResponseError,
    LLMRequest,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderServerError,
    ProviderTimeoutError,
    StreamIncompleteError,
    StreamItem,
    TextDelta,
)
from app.providers.openai import OpenAIProvider
from tests.providers.payloads import chunk, text_completion
from tests.providers.wire import (
    Wire,
    broken_sse,
    call,
    collect,
    drain,
    json_reply,
    openai_sse,
    settings,
)

BASE_URL = "https://api.openai.test/v1"
PLAIN = LLMRequest(model="gpt-4o-mini", messages=[{"role": "user", "content": "Hi"}])


def provider(wire: Wire, api_key: str | None = "sk-test") -> OpenAIProvider:
    return OpenAIProvider(wire.client, base_url=BASE_URL, api_key=api_key, settings=settings())


ERRORS: list[tuple[int, Any, dict[str, str], type[ProviderError]]] = [
    (
        401,
        {"error": {"message": "Incorrect API key", "code": "invalid_api_key"}},
        {},
        ProviderAuthError,
    ),
    (403, {"error": {"message": "Region not supported"}}, {}, ProviderAuthError),
    (
        429,
        {"error": {"message": "Rate limit", "type": "requests"}},
        {"retry-after": "3"},
        ProviderRateLimitError,
    ),
    (
        400,
        {"error": {"message": "Invalid 'messages[1]'", "code": None}},
        {},
        ProviderBadRequestError,
    ),
    (404, {"error": {"message": "The model `x` does not exist"}}, {}, ProviderBadRequestError),
    (422, {"detail": [{"msg": "field required"}]}, {}, ProviderBadRequestError),
    (
        400,
        {"error": {"message": "Too long", "code": "context_length_exceeded"}},
        {},
        ContextWindowExceededError,
    ),
    (
        400,
        {
            "object": "error",
            "message": "This model's maximum context length is 4096 tokens. However, you "
            "requested 5000 tokens.",
            "type": "BadRequestError",
            "code": 400,
        },
        {},
        ContextWindowExceededError,
    ),
    (500, {"error": {"message": "The server had an error"}}, {}, ProviderServerError),
    (502, "<html>Bad gateway</html>", {}, ProviderServerError),
    (503, {"error": "overloaded"}, {"retry-after": "5"}, ProviderServerError),
]


def error_reply(status: int, body: Any, headers: dict[str, str]) -> httpx.Response:
    if isinstance(body, str):
        return httpx.Response(status, text=body, headers=headers)
    return httpx.Response(status, json=body, headers=headers)


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(("status", "body", "headers", "error_class"), ERRORS)
async def test_http_errors(
    wire: Wire,
    streaming: bool,
    status: int,
    body: Any,
    headers: dict[str, str],
    error_class: type[ProviderError],
) -> None:
    wire.reply(error_reply(status, body, headers))
    with pytest.raises(error_class) as caught:
        await call(provider(wire), PLAIN, streaming=streaming)
    error = caught.value
    assert type(error) is error_class
    assert error.status_code == status
    assert error.message.startswith(f"openai returned {status}: ")
    if "retry-after" in headers:
        assert getattr(error, "retry_after", None) == float(headers["retry-after"])


async def test_error_message_comes_from_the_body(wire: Wire) -> None:
    wire.reply(error_reply(*ERRORS[0][:3]))
    with pytest.raises(ProviderAuthError, match="openai returned 401: Incorrect API key"):
        await provider(wire).complete(PLAIN)


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(
    ("raised", "error_class"),
    [
        (httpx.ConnectError("connection refused"), ProviderConnectionError),
        (httpx.ConnectTimeout("timed out"), ProviderTimeoutError),
        (httpx.ReadTimeout("timed out"), ProviderTimeoutError),
    ],
)
async def test_transport_failures(
    wire: Wire, streaming: bool, raised: Exception, error_class: type[ProviderError]
) -> None:
    wire.reply(raised)
    with pytest.raises(error_class):
        await call(provider(wire), PLAIN, streaming=streaming)


async def test_a_dropped_stream_fails_after_what_it_delivered(wire: Wire) -> None:
    first = f"data: {json.dumps(chunk({'content': 'Hel'}))}\n\n".encode()
    wire.reply(broken_sse(first, httpx.ReadError("connection reset")))
    seen: list[StreamItem] = []
    with pytest.raises(StreamIncompleteError):
        await drain(provider(wire).stream(PLAIN), seen)
    assert seen == [TextDelta("Hel")]


@pytest.mark.parametrize(
    "reply",
    [
        httpx.Response(200, text="<html>proxy login</html>"),
        httpx.Response(200, json=[1, 2]),
        httpx.Response(200, json={"id": "x", "choices": []}),
        httpx.Response(200, json={"choices": [{"index": 0, "finish_reason": "stop"}]}),
        httpx.Response(200, json=text_completion({"content": ""})),
        httpx.Response(200, json=text_completion({"content": None, "tool_calls": []})),
    ],
)
async def test_invalid_replies(wire: Wire, reply: httpx.Response) -> None:
    wire.reply(reply)
    with pytest.raises(InvalidResponseError):
        await provider(wire).complete(PLAIN)


@pytest.mark.parametrize(
    "reply",
    [
        openai_sse(chunk({"role": "assistant", "content": ""}, finish="stop")),
        httpx.Response(200, content=b"data: {not json\n\n"),
    ],
)
async def test_invalid_streams(wire: Wire, reply: httpx.Response) -> None:
    wire.reply(reply)
    with pytest.raises(InvalidResponseError):
        await collect(provider(wire), PLAIN)


@pytest.mark.parametrize(
    ("error", "error_class"),
    [
        ({"message": "The server had an error", "type": "server_error"}, ProviderServerError),
        ({"message": "Slow down", "code": "rate_limit_exceeded"}, ProviderRateLimitError),
        ({"message": "Bad", "type": "invalid_request_error"}, ProviderBadRequestError),
        (
            {"message": "This model's maximum context length is 8192 tokens"},
            ContextWindowExceededError,
        ),
        ("upstream failed", ProviderServerError),
    ],
)
async def test_errors_sent_with_a_200(
    wire: Wire, error: Any, error_class: type[ProviderError]
) -> None:
    wire.reply(json_reply({"error": error}), openai_sse(chunk({"content": "a"}), {"error": error}))
    with pytest.raises(error_class) as caught:
        await provider(wire).complete(PLAIN)
    assert type(caught.value) is error_class
    seen: list[StreamItem] = []
    with pytest.raises(error_class):
        await drain(provider(wire).stream(PLAIN), seen)
    assert seen == [TextDelta("a")]
