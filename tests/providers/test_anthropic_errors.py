"""How the Anthropic adapter fails over HTTP: statuses, bodies, transport errors."""

from typing import Any

import httpx
import pytest

from app.providers.anthropic import AnthropicProvider
from app.providers.base import (
    ContextWindowExceededError,
    LLMRequest,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderServerError,
    ProviderTimeoutError,
)
from tests.providers.wire import Wire, call, json_reply, settings

BASE_URL = "https://api.anthropic.test"
PLAIN = LLMRequest(model="claude-x", messages=[{"role": "user", "content": "Hi"}])


def provider(wire: Wire, api_key: str | None = "ak-test") -> AnthropicProvider:
    return AnthropicProvider(wire.client, base_url=BASE_URL, api_key=api_key, settings=settings())


def anthropic_error(kind: str, message: str) -> dict[str, Any]:
    return {"type": "error", "error": {"type": kind, "message": message}}


ERRORS: list[tuple[int, dict[str, Any], dict[str, str], type[ProviderError]]] = [
    (401, anthropic_error("authentication_error", "invalid x-api-key"), {}, ProviderAuthError),
    (403, anthropic_error("permission_error", "no access"), {}, ProviderAuthError),
    (
        429,
        anthropic_error("rate_limit_error", "Number of request tokens has exceeded your limit"),
        {"retry-after": "17"},
        ProviderRateLimitError,
    ),
    (
        400,
        anthropic_error("invalid_request_error", "messages: roles must alternate"),
        {},
        ProviderBadRequestError,
    ),
    (
        400,
        anthropic_error(
            "invalid_request_error", "prompt is too long: 215000 tokens > 200000 maximum"
        ),
        {},
        ContextWindowExceededError,
    ),
    (
        400,
        anthropic_error(
            "invalid_request_error",
            "input length and `max_tokens` exceed context limit: 198000 + 8192 > 200000",
        ),
        {},
        ContextWindowExceededError,
    ),
    (404, anthropic_error("not_found_error", "model: claude-x"), {}, ProviderBadRequestError),
    (
        413,
        anthropic_error("request_too_large", "Request exceeds the maximum size"),
        {},
        ProviderBadRequestError,
    ),
    (500, anthropic_error("api_error", "Internal server error"), {}, ProviderServerError),
    (
        529,
        anthropic_error("overloaded_error", "Overloaded"),
        {"retry-after": "2"},
        ProviderServerError,
    ),
]


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(("status", "body", "headers", "error_class"), ERRORS)
async def test_http_errors(
    wire: Wire,
    streaming: bool,
    status: int,
    body: dict[str, Any],
    headers: dict[str, str],
    error_class: type[ProviderError],
) -> None:
    wire.reply(json_reply(body, status, headers))
    with pytest.raises(error_class) as caught:
        await call(provider(wire), PLAIN, streaming=streaming)
    error = caught.value
    assert type(error) is error_class
    assert error.status_code == status
    assert error.message == f"anthropic returned {status}: {body['error']['message']}"
    if "retry-after" in headers:
        assert getattr(error, "retry_after", None) == float(headers["retry-after"])


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(
    ("raised", "error_class"),
    [
        (httpx.ConnectError("connection refused"), ProviderConnectionError),
        (httpx.ReadTimeout("timed out"), ProviderTimeoutError),
    ],
)
async def test_transport_failures(
    wire: Wire, streaming: bool, raised: Exception, error_class: type[ProviderError]
) -> None:
    wire.reply(raised)
    with pytest.raises(error_class):
        await call(provider(wire), PLAIN, streaming=streaming)
