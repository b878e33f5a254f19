"""One failure, one class: an HTTP status, the same failure reported inside a reply (a 200
body, a mid-stream error) by either vendor, streaming or not, all end as the same error
class, so the run records the same type and a JSON turn answers the same status."""

from typing import Any

import httpx
import pytest

from app.providers.base import (
    LLMRequest,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderServerError,
    ProviderTimeoutError,
)
from tests.providers.payloads import chunk
from tests.providers.test_anthropic import STREAM, event
from tests.providers.wire import (
    Wire,
    anthropic_on,
    anthropic_sse,
    call,
    json_reply,
    openai_on,
    openai_sse,
)

PLAIN = LLMRequest(model="m", messages=[{"role": "user", "content": "Hi"}])

# (HTTP status, OpenAI's error object for it, Anthropic's error type for it, the class)
SAME: list[tuple[int, dict[str, Any], str, type[ProviderError]]] = [
    (
        401,
        {"code": "invalid_api_key", "type": "invalid_request_error"},
        "authentication_error",
        ProviderAuthError,
    ),
    (403, {"code": 403}, "permission_error", ProviderAuthError),
    (
        429,
        {"code": "rate_limit_exceeded", "type": "requests"},
        "rate_limit_error",
        ProviderRateLimitError,
    ),
    (
        429,
        {"code": "insufficient_quota", "type": "insufficient_quota"},
        "rate_limit_error",
        ProviderRateLimitError,
    ),
    (400, {"type": "invalid_request_error"}, "invalid_request_error", ProviderBadRequestError),
    (404, {"code": "404"}, "not_found_error", ProviderBadRequestError),
    (413, {"code": 413}, "request_too_large", ProviderBadRequestError),
    (500, {"type": "server_error"}, "api_error", ProviderServerError),
    (503, {"code": 503}, "overloaded_error", ProviderServerError),
    (504, {"code": 504}, "timeout_error", ProviderTimeoutError),
]


async def raised(provider: Any, *, streaming: bool) -> type[ProviderError]:
    with pytest.raises(ProviderError) as caught:
        await call(provider, PLAIN, streaming=streaming)
    return type(caught.value)


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(("status", "openai_error", "anthropic_type", "error_class"), SAME)
async def test_a_failure_has_one_class_everywhere(
    wire: Wire,
    streaming: bool,
    status: int,
    openai_error: dict[str, Any],
    anthropic_type: str,
    error_class: type[ProviderError],
) -> None:
    openai_body = {"error": {"message": "no", **openai_error}}
    anthropic_body = {"type": "error", "error": {"type": anthropic_type, "message": "no"}}
    wire.reply(json_reply(openai_body, status), json_reply(anthropic_body, status))
    if streaming:  # the same failure reported after a 200, in the stream
        wire.reply(
            openai_sse(chunk({"content": "a"}), openai_body, done=False),
            anthropic_sse(STREAM[0], event("error", error=anthropic_body["error"])),
        )
    else:  # ... or in a 200 body
        wire.reply(json_reply(openai_body), json_reply(anthropic_body))
    assert await raised(openai_on(wire), streaming=streaming) is error_class
    assert await raised(anthropic_on(wire), streaming=streaming) is error_class
    assert await raised(openai_on(wire), streaming=streaming) is error_class
    assert await raised(anthropic_on(wire), streaming=streaming) is error_class


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(
    ("raised_by_transport", "error_class"),
    [
        (httpx.ConnectError("refused"), ProviderConnectionError),
        (httpx.ConnectTimeout("slow"), ProviderTimeoutError),
        (httpx.ReadTimeout("slow"), ProviderTimeoutError),
        (httpx.RemoteProtocolError("closed"), ProviderConnectionError),
    ],
)
async def test_a_transport_failure_before_the_reply_has_one_class(
    wire: Wire,
    streaming: bool,
    raised_by_transport: Exception,
    error_class: type[ProviderError],
) -> None:
    wire.reply(raised_by_transport, raised_by_transport)
    assert (await raised(openai_on(wire), streaming=streaming)) is error_class
    assert (await raised(anthropic_on(wire), streaming=streaming)) is error_class
