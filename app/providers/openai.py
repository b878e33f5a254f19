"""The OpenAI-compatible adapter: Chat Completions, as spoken by OpenAI and by vLLM, Ollama,
LM Studio, OpenRouter and the rest behind a base URL.

Our neutral messages already have the Chat Completions shape, so the work here is the envelope
(tools, limits, streaming options), reading replies and chunks tolerantly (compatible servers
omit fields OpenAI always sends) and translating failures once, at this boundary.
"""

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from typing import Any

import httpx

from app.config import Settings
from app.providers.assembly import (
    Fragment,
    ResponseAssembler,
    as_dict,
    as_int,
    as_str,
    wire_name,
)
from app.providers.base import (
    FinishReason,
    InvalidResponseError,
    LLMRequest,
    LLMResponse,
    ProviderError,
    ReasoningDelta,
    StreamEnd,
    StreamIncompleteError,
    StreamItem,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from app.providers.http import JsonEndpoint
from app.providers.retry import error_details, error_for_status, error_in_body

_NAME = "openai"
_FINISH: dict[str, FinishReason] = {
    "stop": "stop",
    "tool_calls": "tool_calls",
    "function_call": "tool_calls",
    "length": "length",
}
_OVERFLOW_PHRASES = (
    "maximum context length",
    "context length exceeded",
    "context_length_exceeded",
    "exceeds the context window",
    "greater than the context length",
)


def build_body(request: LLMRequest, *, stream: bool) -> dict[str, Any]:
    """The Chat Completions request; optional knobs are sent only when set, because
    compatible servers reject parameters they do not know."""
    messages = [_sendable(message) for message in request.messages]
    body: dict[str, Any] = {"model": request.model, "messages": messages}
    if request.tools:
        body["tools"] = [_tool(tool) for tool in request.tools]
        # OpenAI rejects parallel_tool_calls in a request without tools.
        if request.parallel_tool_calls is not None:
            body["parallel_tool_calls"] = request.parallel_tool_calls
        if request.forced_tool is not None:
            body["tool_choice"] = {"type": "function", "function": {"name": request.forced_tool}}
        elif request.tool_choice is not None:
            body["tool_choice"] = request.tool_choice
    if request.response_format and request.response_format.get("type") != "text":
        body["response_format"] = request.response_format
    if request.max_tokens is not None:
        body["max_tokens"] = request.max_tokens
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return body


def _sendable(message: dict[str, Any]) -> dict[str, Any]:
    """A history message as it may be sent: called names a provider would refuse mended."""
    calls = message.get("tool_calls")
    if not calls or all(c["function"]["name"] == wire_name(c["function"]["name"]) for c in calls):
        return message
    mended = [
        {**c, "function": {**c["function"], "name": wire_name(c["function"]["name"])}}
        for c in calls
    ]
    return {**message, "tool_calls": mended}


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    function = {
        "name": tool["name"],
        "description": tool.get("description") or "",
        "parameters": tool.get("parameters") or {"type": "object", "properties": {}},
    }
    return {"type": "function", "function": function}


def is_context_overflow(code: str, message: str) -> bool:
    """OpenAI says so with a code; vLLM, Ollama and LM Studio only in prose."""
    lowered = message.lower()
    return code == "context_length_exceeded" or any(p in lowered for p in _OVERFLOW_PHRASES)


def error_from_body(error: object) -> ProviderError:
    """An ``error`` object delivered with a 200 (mid-stream, or by some proxies)."""
    details = as_dict(error)
    code, kind = details.get("code"), as_str(details.get("type"))
    message = as_str(details.get("message")) or as_str(error) or "unknown error"
    text = f"{_NAME} reported an error: {as_str(code) or kind or code or 'error'}: {message}"
    overflow = is_context_overflow(as_str(code), message)
    return error_in_body([code, kind], text, context_exceeded=overflow)


def _usage(raw: object) -> Usage:
    usage = as_dict(raw)
    return Usage(
        prompt_tokens=as_int(usage.get("prompt_tokens")) or 0,
        completion_tokens=as_int(usage.get("completion_tokens")) or 0,
        cached_input_tokens=as_int(
            as_dict(usage.get("prompt_tokens_details")).get("cached_tokens")
        ),
        reasoning_tokens=as_int(
            as_dict(usage.get("completion_tokens_details")).get("reasoning_tokens")
        ),
    )


def _fragments(message: dict[str, Any]) -> Iterator[Fragment]:
    """What a full ``message`` or a streamed ``delta`` carries; both have the same fields."""
    reasoning = as_str(message.get("reasoning_content")) or as_str(message.get("reasoning"))
    if reasoning:
        yield ReasoningDelta(reasoning)
    content = as_str(message.get("content"))
    if content:
        yield TextDelta(content)
    raw_calls = message.get("tool_calls")
    for position, raw in enumerate(raw_calls if isinstance(raw_calls, list) else []):
        call = as_dict(raw)
        function = as_dict(call.get("function"))
        arguments = function.get("arguments")
        index = as_int(call.get("index"))
        yield ToolCallDelta(
            index=position if index is None else index,
            id=as_str(call.get("id")) or None,
            name=as_str(function.get("name")) or None,
            arguments=json.dumps(arguments) if isinstance(arguments, dict) else as_str(arguments),
        )


def _first_choice(payload: dict[str, Any]) -> dict[str, Any] | None:
    choices = payload.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], dict):
        return choices[0]
    return None


def parse_completion(payload: dict[str, Any]) -> LLMResponse:
    """A non-streaming reply, through the same assembler as a stream so both agree."""
    if "error" in payload:
        raise error_from_body(payload["error"])
    choice = _first_choice(payload)
    if choice is None or not isinstance(choice.get("message"), dict):
        raise InvalidResponseError(f"{_NAME} reply has no choices[0].message")
    assembler = ResponseAssembler()
    for fragment in _fragments(choice["message"]):
        assembler.add(fragment)
    finish = _FINISH.get(as_str(choice.get("finish_reason")), "other")
    return assembler.finish(finish, _usage(payload.get("usage")))


class _ChunkReader:
    """Folds stream chunks into the assembler; usage comes in the last chunk, which has no
    choices, and the finish reason in the one before it."""

    def __init__(self) -> None:
        self.assembler = ResponseAssembler()
        self.finish_reason: FinishReason | None = None
        self.usage = Usage()

    def read(self, chunk: dict[str, Any]) -> Iterator[Fragment]:
        if "error" in chunk:
            raise error_from_body(chunk["error"])
        if isinstance(chunk.get("usage"), dict):
            self.usage = _usage(chunk["usage"])
        choice = _first_choice(chunk)
        if choice is None:
            return
        if choice.get("finish_reason"):
            self.finish_reason = _FINISH.get(as_str(choice["finish_reason"]), "other")
        for fragment in _fragments(as_dict(choice.get("delta"))):
            shown = self.assembler.add(fragment)
            if shown is not None:
                yield shown

    def end(self) -> StreamEnd:
        """The answer, once the stream said why it finished (its ``[DONE]`` is checked by
        the endpoint)."""
        if self.finish_reason is None:
            raise StreamIncompleteError(f"{_NAME} stream ended without a finish_reason")
        return StreamEnd(self.assembler.finish(self.finish_reason, self.usage))


class OpenAIProvider:
    """``LLMProvider`` for ``POST {base_url}/chat/completions``. It does not retry; wrap it
    in ``RetryingProvider`` (``make_provider`` does)."""

    def __init__(
        self, http: httpx.AsyncClient, *, base_url: str, api_key: str | None, settings: Settings
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/chat/completions"
        # Local servers (Ollama, vLLM) need no key, and some reject an empty bearer token.
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._endpoint = JsonEndpoint(
            http,
            url=self._url,
            headers=self._headers,
            timeout=settings.provider_timeout_seconds,
            provider=_NAME,
            status_error=_status_error,
        )

    async def complete(self, request: LLMRequest) -> LLMResponse:
        return parse_completion(await self._endpoint.post(build_body(request, stream=False)))

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamItem]:
        reader = _ChunkReader()
        body = build_body(request, stream=True)
        async with aclosing(self._endpoint.events(body, done_marker=True)) as events:
            async for event in events:
                for fragment in reader.read(event):
                    yield fragment
        yield reader.end()


def _status_error(response: httpx.Response) -> ProviderError:
    code, message = error_details(response)
    return error_for_status(
        response.status_code,
        message,
        response.headers,
        provider=_NAME,
        context_exceeded=is_context_overflow(code, message),
    )
