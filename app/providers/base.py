"""The provider interface: two calls, ``complete`` and ``stream``, over neutral types.

Messages handed to a provider use the OpenAI Chat Completions shape (``role`` system, user,
assistant with optional ``tool_calls``, tool with ``tool_call_id``); adapters translate to
their wire format. Every failure leaves an adapter as one of the errors below:

    ProviderError                       stop reason / error type
    ├── ProviderTimeoutError            llm_api_error / llm_timeout
    ├── ProviderRateLimitError          llm_api_error / llm_rate_limit
    ├── ProviderAuthError               llm_api_error / llm_authentication
    ├── ProviderBadRequestError         llm_api_error / llm_bad_request
    │   └── ContextWindowExceededError  llm_api_error / llm_context_window_exceeded
    ├── ProviderServerError             llm_api_error / llm_error
    ├── ProviderConnectionError         llm_api_error / llm_error
    └── InvalidResponseError            invalid_llm_response / llm_empty_response
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol


class ProviderError(Exception):
    stop_reason: ClassVar[str] = "llm_api_error"
    error_type: ClassVar[str] = "llm_error"
    retryable: ClassVar[bool] = False

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class ProviderTimeoutError(ProviderError):
    error_type = "llm_timeout"
    retryable = True


class ProviderRateLimitError(ProviderError):
    error_type = "llm_rate_limit"
    retryable = True

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class ProviderAuthError(ProviderError):
    error_type = "llm_authentication"


class ProviderBadRequestError(ProviderError):
    error_type = "llm_bad_request"


class ContextWindowExceededError(ProviderBadRequestError):
    error_type = "llm_context_window_exceeded"


class ProviderServerError(ProviderError):
    retryable = True

    def __init__(
        self, message: str, *, status_code: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, status_code=status_code)
        self.retry_after = retry_after


class ProviderConnectionError(ProviderError):
    retryable = True


class InvalidResponseError(ProviderError):
    stop_reason = "invalid_llm_response"
    error_type = "llm_empty_response"


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
