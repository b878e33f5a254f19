"""The provider series: each request to a model provider (every attempt, retries included)
counted by outcome and timed to its whole answer, and the tokens its answers report.

Wraps an adapter inside the retries (``app.providers.factory``), so a retried call counts
each attempt it made. A counter increment and a histogram observation per model call: no I/O.
"""

import time
from collections.abc import AsyncIterator

from app.kit.observability import PROVIDER_REQUESTS, PROVIDER_SECONDS, TOKENS
from app.providers.base import (
    LLMProvider,
    LLMRequest,
    LLMResponse,
    ProviderError,
    StreamEnd,
    StreamItem,
    Usage,
)
from app.providers.retry import close_stream

# A call that ended neither with an answer nor a provider error: the turn was cancelled,
# or the stream was abandoned by its reader.
INTERRUPTED = "interrupted"


def _record(provider: str, outcome: str, started: float) -> None:
    PROVIDER_REQUESTS.labels(provider, outcome).inc()
    PROVIDER_SECONDS.labels(provider).observe(time.perf_counter() - started)


def _tokens(usage: Usage) -> None:
    TOKENS.labels("prompt").inc(usage.prompt_tokens)
    TOKENS.labels("completion").inc(usage.completion_tokens)


class MeteredProvider:
    def __init__(self, inner: LLMProvider, provider: str) -> None:
        self.inner = inner
        self.provider = provider

    async def complete(self, request: LLMRequest) -> LLMResponse:
        outcome, started = INTERRUPTED, time.perf_counter()
        try:
            response = await self.inner.complete(request)
        except ProviderError as exc:
            outcome = exc.error_type
            raise
        else:
            outcome = "ok"
            _tokens(response.usage)
        finally:
            _record(self.provider, outcome, started)
        return response

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamItem]:
        outcome, started = INTERRUPTED, time.perf_counter()
        items = self.inner.stream(request)
        try:
            async for item in items:
                if isinstance(item, StreamEnd):
                    outcome = "ok"
                    _tokens(item.response.usage)
                yield item
        except ProviderError as exc:
            outcome = exc.error_type
            raise
        finally:
            await close_stream(items)
            _record(self.provider, outcome, started)
