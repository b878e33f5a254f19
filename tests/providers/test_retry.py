from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from app.providers.base import (
    ContextWindowExceededError,
    InvalidResponseError,
    LLMRequest,
    LLMResponse,
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderConnectionError,
    ProviderError,
    ProviderRateLimitError,
    ProviderServerError,
    ProviderTimeoutError,
    StreamEnd,
    StreamItem,
    TextDelta,
    Usage,
)
from app.providers.retry import (
    RetryingProvider,
    RetryPolicy,
    error_for_status,
    parse_retry_after,
    transport_errors,
)
from tests.providers.wire import Sleeps, drain

NOW = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
REQUEST = LLMRequest(model="m", messages=[{"role": "user", "content": "hi"}])
ANSWER = LLMResponse("ok", [], "stop", Usage(1, 1))
Outcome = LLMResponse | ProviderError | list[StreamItem | ProviderError]


class Scripted:
    """A provider that plays back one scripted outcome per call."""

    def __init__(self, *outcomes: Outcome) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0
        self.closed = 0

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, ProviderError):
            raise outcome
        assert isinstance(outcome, LLMResponse)
        return outcome

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamItem]:
        self.calls += 1
        script = self.outcomes.pop(0)
        assert isinstance(script, list)
        try:
            for step in script:
                if isinstance(step, ProviderError):
                    raise step
                yield step
        finally:
            self.closed += 1


def policy(sleeps: Sleeps, **overrides: float) -> RetryPolicy:
    values = {"max_retries": 3, "base_seconds": 1.0, "max_seconds": 10.0} | overrides
    return RetryPolicy(
        max_retries=int(values["max_retries"]),
        base_seconds=values["base_seconds"],
        max_seconds=values["max_seconds"],
        sleep=sleeps,
        jitter=lambda: 0.5,
    )


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"Retry-After": "7"}, 7.0),
        ({"Retry-After": "1.5"}, 1.5),
        ({"Retry-After": "-3"}, 0.0),
        ({"Retry-After": format_datetime(NOW + timedelta(seconds=30), usegmt=True)}, 30.0),
        ({"Retry-After": format_datetime(NOW - timedelta(seconds=30), usegmt=True)}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({"retry-after-ms": "250", "Retry-After": "1"}, 0.25),
        ({"retry-after-ms": "x", "Retry-After": "4"}, 4.0),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(httpx.Headers(headers), now=NOW) == expected


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, ProviderBadRequestError),
        (401, ProviderAuthError),
        (403, ProviderAuthError),
        (404, ProviderBadRequestError),
        (408, ProviderTimeoutError),
        (413, ProviderBadRequestError),
        (422, ProviderBadRequestError),
        (429, ProviderRateLimitError),
        (500, ProviderServerError),
        (502, ProviderServerError),
        (503, ProviderServerError),
        (504, ProviderTimeoutError),
        (529, ProviderServerError),
        (302, InvalidResponseError),
    ],
)
def test_error_for_status(status: int, error_class: type[ProviderError]) -> None:
    error = error_for_status(status, "boom", httpx.Headers(), provider="p", context_exceeded=False)
    assert type(error) is error_class
    assert error.status_code == status
    assert error.message == f"p returned {status}: boom"


def test_context_overflow_is_a_bad_request_only_for_4xx() -> None:
    overflow = error_for_status(400, "x", httpx.Headers(), provider="p", context_exceeded=True)
    assert type(overflow) is ContextWindowExceededError
    server = error_for_status(500, "x", httpx.Headers(), provider="p", context_exceeded=True)
    assert type(server) is ProviderServerError


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_read_for_rate_limits_and_server_errors(status: int) -> None:
    headers = httpx.Headers({"Retry-After": "12"})
    error = error_for_status(status, "x", headers, provider="p", context_exceeded=False)
    assert isinstance(error, ProviderRateLimitError | ProviderServerError)
    assert error.retry_after == 12.0


@pytest.mark.parametrize(
    ("raised", "error_class"),
    [
        (httpx.ConnectError("refused"), ProviderConnectionError),
        (httpx.ReadError("reset"), ProviderConnectionError),
        (httpx.RemoteProtocolError("closed early"), ProviderConnectionError),
        (httpx.ConnectTimeout("slow"), ProviderTimeoutError),
        (httpx.ReadTimeout("slow"), ProviderTimeoutError),
        (httpx.PoolTimeout("busy"), ProviderTimeoutError),
        (httpx.DecodingError("gzip"), InvalidResponseError),
    ],
)
def test_transport_errors(raised: Exception, error_class: type[ProviderError]) -> None:
    with pytest.raises(error_class) as caught, transport_errors("p"):
        raise raised
    assert caught.value.__cause__ is raised
    assert caught.value.retryable is (error_class is not InvalidResponseError)


def test_transport_errors_let_provider_errors_through() -> None:
    original = ProviderAuthError("no")
    with pytest.raises(ProviderAuthError) as caught, transport_errors("p"):
        raise original
    assert caught.value is original


def test_delay_is_full_jitter_over_a_capped_exponential(sleeps: Sleeps) -> None:
    jittered = policy(sleeps)
    error = ProviderServerError("x")
    assert [jittered.delay(error, attempt) for attempt in range(6)] == [
        0.5,
        1.0,
        2.0,
        4.0,
        5.0,
        5.0,
    ]
    no_jitter = RetryPolicy(base_seconds=1.0, max_seconds=10.0, jitter=lambda: 0.0)
    assert no_jitter.delay(error, 3) == 0.0


def test_delay_honours_retry_after_up_to_the_cap(sleeps: Sleeps) -> None:
    capped = policy(sleeps)
    assert capped.delay(ProviderRateLimitError("x", retry_after=3.0), 0) == 3.0
    assert capped.delay(ProviderServerError("x", retry_after=0.0), 2) == 0.0
    assert capped.delay(ProviderRateLimitError("x", retry_after=3600.0), 0) == 10.0


@pytest.mark.parametrize(
    "error",
    [
        ProviderTimeoutError("t"),
        ProviderRateLimitError("r"),
        ProviderServerError("s"),
        ProviderConnectionError("c"),
    ],
)
async def test_complete_retries_transient_errors(sleeps: Sleeps, error: ProviderError) -> None:
    inner = Scripted(error, error, ANSWER)
    provider = RetryingProvider(inner, policy(sleeps))
    assert await provider.complete(REQUEST) is ANSWER
    assert inner.calls == 3
    assert sleeps.delays == [0.5, 1.0]


async def test_complete_gives_up_after_max_retries(sleeps: Sleeps) -> None:
    errors = [ProviderServerError(f"attempt {n}") for n in range(4)]
    inner = Scripted(*errors)
    with pytest.raises(ProviderServerError, match="attempt 3"):
        await RetryingProvider(inner, policy(sleeps)).complete(REQUEST)
    assert inner.calls == 4
    assert sleeps.delays == [0.5, 1.0, 2.0]


async def test_zero_retries_means_one_call(sleeps: Sleeps) -> None:
    inner = Scripted(ProviderServerError("x"))
    with pytest.raises(ProviderServerError):
        await RetryingProvider(inner, policy(sleeps, max_retries=0)).complete(REQUEST)
    assert inner.calls == 1
    assert sleeps.delays == []


@pytest.mark.parametrize(
    "error",
    [
        ProviderAuthError("a"),
        ProviderBadRequestError("b"),
        ContextWindowExceededError("c"),
        InvalidResponseError("i"),
    ],
)
async def test_permanent_errors_are_not_retried(sleeps: Sleeps, error: ProviderError) -> None:
    inner = Scripted(error, ANSWER)
    with pytest.raises(type(error)):
        await RetryingProvider(inner, policy(sleeps)).complete(REQUEST)
    assert inner.calls == 1
    assert sleeps.delays == []


async def test_complete_waits_as_long_as_the_provider_asks(sleeps: Sleeps) -> None:
    inner = Scripted(ProviderRateLimitError("r", retry_after=4.0), ANSWER)
    await RetryingProvider(inner, policy(sleeps)).complete(REQUEST)
    assert sleeps.delays == [4.0]


async def test_stream_retries_before_the_first_item(sleeps: Sleeps) -> None:
    end = StreamEnd(ANSWER)
    inner = Scripted(
        [ProviderRateLimitError("r", retry_after=2.0)], [ProviderTimeoutError("t")], [end]
    )
    provider = RetryingProvider(inner, policy(sleeps))
    assert [item async for item in provider.stream(REQUEST)] == [end]
    assert inner.calls == 3
    assert inner.closed == 3
    assert sleeps.delays == [2.0, 1.0]


async def test_stream_is_not_retried_after_the_first_item(sleeps: Sleeps) -> None:
    inner = Scripted([TextDelta("Hel"), ProviderServerError("dropped")], [StreamEnd(ANSWER)])
    provider = RetryingProvider(inner, policy(sleeps))
    seen: list[StreamItem] = []
    with pytest.raises(ProviderServerError, match="dropped"):
        await drain(provider.stream(REQUEST), seen)
    assert seen == [TextDelta("Hel")]
    assert inner.calls == 1
    assert sleeps.delays == []


async def test_stream_gives_up_after_max_retries(sleeps: Sleeps) -> None:
    inner = Scripted(
        [ProviderConnectionError("c")],
        [ProviderConnectionError("c")],
        [ProviderConnectionError("c")],
    )
    provider = RetryingProvider(inner, policy(sleeps, max_retries=2))
    with pytest.raises(ProviderConnectionError):
        [item async for item in provider.stream(REQUEST)]
    assert inner.calls == 3
    assert sleeps.delays == [0.5, 1.0]


async def test_stream_permanent_error_is_raised_at_once(sleeps: Sleeps) -> None:
    inner = Scripted([ProviderAuthError("a")])
    with pytest.raises(ProviderAuthError):
        [item async for item in RetryingProvider(inner, policy(sleeps)).stream(REQUEST)]
    assert inner.calls == 1
    assert sleeps.delays == []


async def test_abandoning_a_stream_closes_the_inner_one(sleeps: Sleeps) -> None:
    inner = Scripted([TextDelta("a"), TextDelta("b"), StreamEnd(ANSWER)])
    stream = RetryingProvider(inner, policy(sleeps)).stream(REQUEST)
    assert await anext(stream) == TextDelta("a")
    await stream.aclose()  # type: ignore[attr-defined]
    assert inner.closed == 1
