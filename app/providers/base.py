"""The provider interface: two calls, ``complete`` and ``stream``, over neutral types.

Messages handed to a provider use the OpenAI Chat Completions shape (``role`` system, user,
assistant with optional ``tool_calls``, tool with ``tool_call_id``); adapters translate to
their wire format. Every failure leaves an adapter as one of the errors below:

    ProviderError                       stop reason / error type               HTTP status
    ├── ProviderTimeoutError            llm_api_error / llm_timeout                    504
    ├── ProviderRateLimitError          llm_api_error / llm_rate_limit                 429
    ├── ProviderAuthError               llm_api_error / llm_authentication             401
    ├── ProviderBadRequestError         llm_api_error / llm_bad_request                400
    │   └── ContextWindowExceededError  llm_api_error / llm_context_window_exceeded    400
    ├── ProviderServerError             llm_api_error / llm_error                      502
    ├── ProviderConnectionError         llm_api_error / llm_error                      502
    │   └── StreamIncompleteError       llm_api_error / stream_incomplete              502
    └── InvalidResponseError            invalid_llm_response / llm_empty_response     502

The HTTP status is what a JSON (non-streaming) turn that failed so answers; a stream says the
same in its ``error_message`` event instead, and the run records the error type either way.
Both adapters classify alike (``app.providers.retry``): an HTTP status, the same failure
reported inside a body or a stream, and a transport failure each map to one class, whichever
vendor and whether streaming or not. A stream is complete only once the provider said so
(OpenAI-compatible: a ``finish_reason`` and ``[DONE]``; Anthropic: ``message_stop``); one that
stops or breaks before is a ``StreamIncompleteError``.
"""

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

from app.runs.states import StopReason


class ProviderError(Exception):
    stop_reason: ClassVar[StopReason] = StopReason.llm_api_error
    error_type: ClassVar[str] = "llm_error"
    retryable: ClassVar[bool] = False
    http_status: ClassVar[int] = 502
    summary: ClassVar[str] = "The model provider failed"

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class ProviderTimeoutError(ProviderError):
    error_type = "llm_timeout"
    retryable = True
    http_status = 504
    summary = "The model provider did not answer in time"


class ProviderRateLimitError(ProviderError):
    error_type = "llm_rate_limit"
    retryable = True
    http_status = 429
    summary = "The model provider is limiting the rate of requests"

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class ProviderAuthError(ProviderError):
    error_type = "llm_authentication"
    http_status = 401
    summary = "The model provider did not accept the configured credentials"


class ProviderBadRequestError(ProviderError):
    error_type = "llm_bad_request"
    http_status = 400
    summary = "The model provider refused the request"


class ContextWindowExceededError(ProviderBadRequestError):
    error_type = "llm_context_window_exceeded"
    summary = "The conversation does not fit the model's context window"


class ProviderServerError(ProviderError):
    retryable = True

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class ProviderConnectionError(ProviderError):
    retryable = True


class StreamIncompleteError(ProviderConnectionError):
    """The reply began streaming and stopped (or broke) before the provider said it was
    complete: what came is a fragment, never an answer. Retried only while nothing of it
    has been passed on (see ``RetryingProvider``)."""

    error_type = "stream_incomplete"
    summary = "The model provider's stream ended before the answer was complete"


class InvalidResponseError(ProviderError):
    stop_reason = StopReason.invalid_llm_response
    error_type = "llm_empty_response"
    summary = "The model provider's answer could not be used"


def _tree(cls: type[ProviderError]) -> Iterator[type[ProviderError]]:
    yield cls
    for sub in cls.__subclasses__():
        yield from _tree(sub)


def failure_status(error_type: str) -> tuple[int, str] | None:
    """The HTTP status and summary for a turn that failed with this recorded error type (the
    run keeps only the type); None if no provider error has that type."""
    for cls in _tree(ProviderError):
        if cls.error_type == error_type:
            return cls.http_status, cls.summary
    return None


@dataclass(frozen=True, slots=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # JSON text, as the model produced it


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


FinishReason = Literal["stop", "tool_calls", "length", "other"]


@dataclass(frozen=True, slots=True)
class LLMRequest:
    model: str
    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] = field(default_factory=list)  # {name, description, parameters}
    max_tokens: int | None = None
    temperature: float | None = None
    parallel_tool_calls: bool | None = None
    tool_choice: Literal["auto", "required"] | None = None  # "required": a tool call is a must
    forced_tool: str | None = None  # with "required": the one tool the call must be to
    # Structured output (Letta's response_format: {type: text | json_object | json_schema}).
    response_format: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class LLMResponse:
    text: str
    tool_calls: list[ToolCall]
    finish_reason: FinishReason
    usage: Usage
    reasoning: str = ""


@dataclass(frozen=True, slots=True)
class TextDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    text: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """A fragment of the tool call at ``index``: id and name arrive first, arguments in pieces."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


@dataclass(frozen=True, slots=True)
class StreamEnd:
    """The last item of every stream: the assembled response."""

    response: LLMResponse


StreamItem = TextDelta | ReasoningDelta | ToolCallDelta | StreamEnd


class LLMProvider(Protocol):
    async def complete(self, request: LLMRequest) -> LLMResponse: ...

    def stream(self, request: LLMRequest) -> AsyncIterator[StreamItem]: ...
