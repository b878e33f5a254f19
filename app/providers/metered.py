"""The provider series: each request to a model provider (every attempt, retries included)
counted by outcome and timed to its whole answer, and the tokens its answers report.

``RetryingProvider`` (``app.providers.retry``) keeps one ``Meter`` per attempt, inside the
loop it already runs over a stream's items: no layer is added between the adapter and the
turn, and a model call costs a counter increment and a histogram observation, no I/O.
"""

import time

from app.kit import tracing
from app.kit.observability import PROVIDER_REQUESTS, PROVIDER_SECONDS, TOKENS
from app.providers.base import LLMResponse, ProviderError

# A call that ended neither with an answer nor a provider error: the turn was cancelled,
# or the stream was abandoned by its reader.
INTERRUPTED = "interrupted"


class Meter:
    """One attempt, recorded once: answered, failed, or (otherwise) interrupted."""

    __slots__ = ("provider", "recorded", "span", "started")

    def __init__(self, provider: str, model: str = "") -> None:
        self.provider = provider
        self.started = time.perf_counter()
        self.recorded = False
        self.span = tracing.started("provider call", provider=provider, model=model)

    def _record(self, outcome: str, error: ProviderError | None = None) -> None:
        if not self.recorded:
            self.recorded = True
            self.span.end(error, outcome=outcome)
            PROVIDER_REQUESTS.labels(self.provider, outcome).inc()
            PROVIDER_SECONDS.labels(self.provider).observe(time.perf_counter() - self.started)

    def answered(self, response: LLMResponse) -> None:
        self._record("ok")
        TOKENS.labels("prompt").inc(response.usage.prompt_tokens)
        TOKENS.labels("completion").inc(response.usage.completion_tokens)

    def failed(self, error: ProviderError) -> None:
        self._record(error.error_type, error)

    def interrupted(self) -> None:
        """The attempt ended: recorded as interrupted unless it was recorded already."""
        self._record(INTERRUPTED)
