"""Which provider failures are worth another attempt, and how long to wait before it.

The adapters translate every HTTP outcome into the error tree of ``app.providers.base`` with
the helpers here (``transport_errors``, ``broken_streams``, ``error_for_status``,
``error_in_body``, ``parse_retry_after``), so both classify one failure alike, and the
classes that say ``retryable = True`` are exactly the transient ones: timeouts, dropped
connections and cut streams, 429 and 5xx. ``RetryingProvider`` is the one place that acts on
that flag; the adapters themselves never retry.
"""

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
import structlog

from app.config import Settings
from app.providers.base import (
    ContextWindowExceededError,
    InvalidResponseError,
    LLMProvider,
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
    StreamIncompleteError,
    StreamItem,
)
from app.providers.metered import Meter

log = structlog.get_logger("app.providers")

Sleep = Callable[[float], Awaitable[None]]


def parse_retry_after(headers: httpx.Headers, *, now: datetime | None = None) -> float | None:
    """Seconds the provider asked us to wait, from ``retry-after-ms`` (OpenAI) or
    ``Retry-After`` as seconds or an HTTP date; None when absent or unreadable."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(float(millis) / 1000, 0.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT; a naive one means the same
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def _status_class(status: int, *, context_exceeded: bool) -> type[ProviderError]:
    if status in (401, 403):
        return ProviderAuthError
    if status == 429:
        return ProviderRateLimitError
    if status in (408, 504):  # the provider (or its gateway) gave up waiting
        return ProviderTimeoutError
    if 400 <= status < 500:
        return ContextWindowExceededError if context_exceeded else ProviderBadRequestError
    if status >= 500:
        return ProviderServerError
    return InvalidResponseError


def error_for_status(
    status: int,
    message: str,
    headers: httpx.Headers,
    *,
    provider: str,
    context_exceeded: bool,
) -> ProviderError:
    """The error for a non-2xx reply; the adapter decides whether it was a context overflow
    because each vendor words that differently."""
    text = f"{provider} returned {status}: {message}"
    cls = _status_class(status, context_exceeded=context_exceeded)
    if cls is ProviderRateLimitError or cls is ProviderServerError:
        retry_after = parse_retry_after(headers)
        if cls is ProviderRateLimitError:
            return ProviderRateLimitError(text, status_code=status, retry_after=retry_after)
        return ProviderServerError(text, status_code=status, retry_after=retry_after)
    return cls(text, status_code=status)


# Error codes and types either vendor puts inside a reply, as the HTTP status they stand for.
_ERROR_KINDS: dict[str, type[ProviderError]] = {
    # Anthropic's error types (its stream ``error`` events carry only these).
    "invalid_request_error": ProviderBadRequestError,
    "authentication_error": ProviderAuthError,
    "permission_error": ProviderAuthError,
    "not_found_error": ProviderBadRequestError,
    "request_too_large": ProviderBadRequestError,
    "rate_limit_error": ProviderRateLimitError,
    "api_error": ProviderServerError,
    "overloaded_error": ProviderServerError,
    "timeout_error": ProviderTimeoutError,
    # OpenAI's codes and types.
    "invalid_api_key": ProviderAuthError,
    "rate_limit_exceeded": ProviderRateLimitError,
    "insufficient_quota": ProviderRateLimitError,
    "server_error": ProviderServerError,
    "context_length_exceeded": ContextWindowExceededError,
}


def _as_status(kind: object) -> int | None:
    if isinstance(kind, str) and kind.isdigit():
        kind = int(kind)
    if isinstance(kind, int) and not isinstance(kind, bool) and 400 <= kind < 600:
        return kind
    return None


def error_in_body(kinds: Sequence[object], text: str, *, context_exceeded: bool) -> ProviderError:
    """An error a provider reported inside a reply (a 200 body, a stream event), classified
    as the HTTP status it stands for would be. ``kinds`` are the error's code and type, most
    specific first; a number among them is an HTTP status (vLLM and OpenRouter send one)."""
    if context_exceeded:
        return ContextWindowExceededError(text)
    for kind in kinds:
        status = _as_status(kind)
        if status is not None:
            return _status_class(status, context_exceeded=False)(text)
        if isinstance(kind, str) and kind in _ERROR_KINDS:
            return _ERROR_KINDS[kind](text)
        if isinstance(kind, str) and "rate_limit" in kind:
            return ProviderRateLimitError(text)
    return ProviderServerError(text)


def error_details(response: httpx.Response) -> tuple[str, str]:
    """``(code, message)`` from an error body. Both vendors nest ``{code|type, message}``
    under ``error``; OpenAI-compatible servers vary, so fall back to the raw text."""
    try:
        payload = response.json()
    except ValueError:
        payload = None
    code, message = "", ""
    if isinstance(payload, dict):
        error = payload.get("error")
        if isinstance(error, dict):
            code = _text(error.get("code")) or _text(error.get("type"))
            message = _text(error.get("message"))
        else:
            message = _text(error) or _text(payload.get("message")) or _text(payload.get("detail"))
    return code, message or response.text[:500] or response.reason_phrase


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


@contextmanager
def transport_errors(provider: str) -> Iterator[None]:
    """Translate httpx's failures inside the block; provider errors pass through untouched."""
    try:
        yield
    except httpx.TimeoutException as exc:
        raise ProviderTimeoutError(f"{provider} timed out: {type(exc).__name__}") from exc
    except httpx.DecodingError as exc:
        raise InvalidResponseError(f"{provider} sent an undecodable body: {exc}") from exc
    except httpx.RequestError as exc:
        raise ProviderConnectionError(f"{provider} unreachable: {type(exc).__name__}") from exc


@contextmanager
def broken_streams(provider: str) -> Iterator[None]:
    """Around the reading of a streamed body: a connection that breaks there has cut the
    stream short. (Timeouts stay timeouts, as they are anywhere else.)"""
    try:
        yield
    except (httpx.NetworkError, httpx.ProtocolError) as exc:
        raise StreamIncompleteError(f"{provider} stream broke off: {type(exc).__name__}") from exc


def _jitter() -> float:
    return random.random()  # noqa: S311 - backoff jitter, not a secret


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and full jitter.

    Full jitter (a uniform wait between zero and the exponential cap) spreads the retries of
    many agents hitting the same rate limit. A provider's own ``Retry-After`` wins over the
    computed wait, but never beyond ``max_seconds``: a turn should fail rather than hang.
    """

    max_retries: int = 3
    base_seconds: float = 0.5
    max_seconds: float = 20.0
    sleep: Sleep = field(default=asyncio.sleep)
    jitter: Callable[[], float] = field(default=_jitter)

    @classmethod
    def from_settings(cls, settings: Settings, *, sleep: Sleep = asyncio.sleep) -> "RetryPolicy":
        return cls(
            max_retries=settings.provider_max_retries,
            base_seconds=settings.provider_retry_base_seconds,
            max_seconds=settings.provider_retry_max_seconds,
            sleep=sleep,
        )

    def should_retry(self, error: ProviderError, attempt: int) -> bool:
        """Whether failure number ``attempt`` (0 for the first call) earns another try."""
        return error.retryable and attempt < self.max_retries

    def delay(self, error: ProviderError, attempt: int) -> float:
        retry_after: float | None = getattr(error, "retry_after", None)
        if retry_after is not None:
            return min(retry_after, self.max_seconds)
        cap = min(self.base_seconds * 2.0**attempt, self.max_seconds)
        return self.jitter() * cap

    async def pause(self, error: ProviderError, attempt: int) -> None:
        wait = self.delay(error, attempt)
        log.warning(
            "providers.retry",
            attempt=attempt + 1,
            max_retries=self.max_retries,
            delay_seconds=round(wait, 3),
            error_type=type(error).__name__,
            status_code=error.status_code,
            error=error.message,
        )
        await self.sleep(wait)


class RetryingProvider:
    """Wraps an adapter with a ``RetryPolicy``, and counts each attempt in the provider
    series (``app.providers.metered``) under ``provider``, the vendor's name.

    A stream is retried only until it yields its first item: after that the consumer has
    already shown or stored part of an answer, and replaying the call would duplicate it.
    """

    def __init__(self, inner: LLMProvider, policy: RetryPolicy, provider: str = "") -> None:
        self.inner = inner
        self.policy = policy
        self.provider = provider

    async def complete(self, request: LLMRequest) -> LLMResponse:
        attempt = 0
        while True:
            meter = Meter(self.provider, request.model)
            try:
                response = await self.inner.complete(request)
            except ProviderError as exc:
                meter.failed(exc)
                if not self.policy.should_retry(exc, attempt):
                    raise
                await self.policy.pause(exc, attempt)
                attempt += 1
            else:
                meter.answered(response)
                return response
            finally:
                meter.interrupted()

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamItem]:
        attempt = 0
        while True:
            items = self.inner.stream(request)
            meter = Meter(self.provider, request.model)
            started = False
            failure: ProviderError
            try:
                async for item in items:
                    started = True
                    if isinstance(item, StreamEnd):
                        meter.answered(item.response)
                    yield item
            except ProviderError as exc:
                meter.failed(exc)
                if started or not self.policy.should_retry(exc, attempt):
                    raise
                failure = exc
            else:
                return
            finally:
                meter.interrupted()
                await close_stream(items)
            await self.policy.pause(failure, attempt)
            attempt += 1


async def close_stream(items: AsyncIterator[StreamItem]) -> None:
    """Close an abandoned stream now, so its HTTP connection goes back to the pool at once
    instead of whenever the generator is collected."""
    aclose: Callable[[], Awaitable[None]] | None = getattr(items, "aclose", None)
    if aclose is not None:
        await aclose()
