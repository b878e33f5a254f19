"""The Anthropic adapter: the Messages API, translated to and from our Chat Completions shape.

Anthropic differs from the neutral shape in ways that matter: the system prompt is a request
field, tool calls and tool results are content blocks, roles must alternate, ``max_tokens`` is
mandatory, and input usage excludes cached tokens. All of that is handled here so nothing
upstream has to know which vendor answered.
"""

import json
from collections.abc import AsyncIterator, Iterator
from contextlib import aclosing
from dataclasses import dataclass
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
from app.providers.registry import ANTHROPIC_VERSION
from app.providers.retry import error_details, error_for_status, error_in_body

DEFAULT_MAX_TOKENS = 4096
_NAME = "anthropic"
_STOP: dict[str, FinishReason] = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
}
_OVERFLOW_PHRASES = ("prompt is too long", "exceed context limit", "context window")


def _text_of(content: object) -> str:
    """Plain text of a Chat Completions ``content``: a string, or a list of text parts."""
    if isinstance(content, list):
        return "".join(as_str(as_dict(part).get("text")) for part in content)
    return as_str(content)


def _text_blocks(content: object) -> list[dict[str, Any]]:
    # Anthropic rejects empty and whitespace-only text blocks.
    text = _text_of(content)
    return [{"type": "text", "text": text}] if text.strip() else []


def _tool_input(arguments: object) -> dict[str, Any]:
    """Arguments as the object Anthropic requires; a model's malformed JSON becomes ``{}``
    so the history stays sendable (the tool already saw and reported the bad input)."""
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(as_str(arguments))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _blocks(message: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    role = message.get("role")
    if role == "tool":
        result: dict[str, Any] = {"type": "tool_result", "tool_use_id": message["tool_call_id"]}
        text = _text_of(message.get("content"))
        if text:
            result["content"] = text
        return "user", [result]
    if role == "assistant":
        blocks = _text_blocks(message.get("content"))
        for call in message.get("tool_calls") or []:
            function = call["function"]
            blocks.append(
                {
                    "type": "tool_use",
                    "id": call["id"],
                    "name": wire_name(function["name"]),
                    "input": _tool_input(function.get("arguments")),
                }
            )
        return "assistant", blocks
    if role == "user":
        return "user", _text_blocks(message.get("content"))
    raise ValueError(f"unsupported message role {role!r}")


def convert_messages(messages: list[dict[str, Any]]) -> tuple[str, list[dict[str, Any]]]:
    """``(system, messages)`` in Anthropic's shape.

    Every system message goes into the system prompt, in order. Consecutive messages of one
    role are merged because Anthropic requires alternation; tool results become user turns,
    so they merge with a following user message and stay first in it, as Anthropic wants.
    """
    system: list[str] = []
    converted: list[dict[str, Any]] = []
    for message in messages:
        if message.get("role") == "system":
            system.append(_text_of(message.get("content")))
            continue
        role, blocks = _blocks(message)
        if not blocks:
            continue
        if converted and converted[-1]["role"] == role:
            converted[-1]["content"].extend(blocks)
        else:
            converted.append({"role": role, "content": blocks})
    return "\n\n".join(part for part in system if part), converted


def build_body(request: LLMRequest, *, stream: bool) -> dict[str, Any]:
    """The Messages request. Anthropic requires ``max_tokens``, hence a default; asking for
    no parallel tool calls is spelled as a ``tool_choice`` option there, and a required tool
    call as ``tool_choice`` ``any``. The Messages API has no ``response_format``: a structured
    format reaches the model only as the schema of send_message's ``message``."""
    system, messages = convert_messages(request.messages)
    body: dict[str, Any] = {
        "model": request.model,
        "max_tokens": DEFAULT_MAX_TOKENS if request.max_tokens is None else request.max_tokens,
        "messages": messages,
    }
    if system:
        body["system"] = system
    if request.tools:
        body["tools"] = [_tool(tool) for tool in request.tools]
        choice: dict[str, Any] = {"type": "any" if request.tool_choice == "required" else "auto"}
        if request.forced_tool is not None:
            choice = {"type": "tool", "name": request.forced_tool}
        if request.parallel_tool_calls is False:
            choice["disable_parallel_tool_use"] = True
        if len(choice) > 1 or choice["type"] != "auto":
            body["tool_choice"] = choice
    if request.temperature is not None:
        body["temperature"] = request.temperature
    if stream:
        body["stream"] = True
    return body


def _tool(tool: dict[str, Any]) -> dict[str, Any]:
    converted = {
        "name": tool["name"],
        "input_schema": tool.get("parameters") or {"type": "object", "properties": {}},
    }
    if tool.get("description"):
        converted["description"] = tool["description"]
    return converted


def is_context_overflow(message: str) -> bool:
    lowered = message.lower()
    return any(phrase in lowered for phrase in _OVERFLOW_PHRASES)


def error_from_event(error: object) -> ProviderError:
    """The error of an ``error`` stream event (sent after a 200, so no status code)."""
    details = as_dict(error)
    kind = as_str(details.get("type")) or "error"
    message = as_str(details.get("message")) or "unknown error"
    text = f"{_NAME} reported {kind}: {message}"
    return error_in_body([kind], text, context_exceeded=is_context_overflow(message))


@dataclass(slots=True)
class _Tokens:
    """Anthropic's counts, which arrive in parts while streaming. ``input_tokens`` excludes
    cached tokens, so the prompt total adds them back to match OpenAI's ``prompt_tokens``."""

    input: int = 0
    cache_read: int | None = None
    cache_write: int = 0
    output: int = 0

    def update(self, raw: object) -> None:
        data = as_dict(raw)
        self.input = _count(data, "input_tokens", self.input)
        self.cache_write = _count(data, "cache_creation_input_tokens", self.cache_write)
        self.output = _count(data, "output_tokens", self.output)
        cache_read = as_int(data.get("cache_read_input_tokens"))
        self.cache_read = self.cache_read if cache_read is None else cache_read

    def usage(self) -> Usage:
        prompt = self.input + (self.cache_read or 0) + self.cache_write
        return Usage(prompt, self.output, cached_input_tokens=self.cache_read)


def _count(data: dict[str, Any], key: str, current: int) -> int:
    value = as_int(data.get(key))
    return current if value is None else value


def _block_fragment(block: dict[str, Any], tool_index: int) -> Fragment | None:
    """A content block as a fragment (a whole block, or the opening of a streamed one)."""
    kind = block.get("type")
    if kind == "text":
        return TextDelta(as_str(block.get("text")))
    if kind == "thinking":
        return ReasoningDelta(as_str(block.get("thinking")))
    if kind == "tool_use":
        given = block.get("input")
        arguments = json.dumps(given) if isinstance(given, dict) and given else ""
        name = as_str(block.get("name")) or None
        return ToolCallDelta(tool_index, as_str(block.get("id")) or None, name, arguments)
    return None  # redacted_thinking and block types we do not use


def parse_message(payload: dict[str, Any]) -> LLMResponse:
    if payload.get("type") == "error":
        raise error_from_event(payload.get("error"))
    content = payload.get("content")
    if not isinstance(content, list):
        raise InvalidResponseError(f"{_NAME} reply has no content list")
    assembler = ResponseAssembler()
    tool_index = 0
    for raw in content:
        fragment = _block_fragment(as_dict(raw), tool_index)
        if fragment is not None:
            assembler.add(fragment)
            tool_index += isinstance(fragment, ToolCallDelta)
    tokens = _Tokens()
    tokens.update(payload.get("usage"))
    finish = _STOP.get(as_str(payload.get("stop_reason")), "other")
    return assembler.finish(finish, tokens.usage())


class _EventReader:
    """Folds stream events into the assembler. Block indexes count every block, tool calls
    are numbered among themselves, so ``_tools`` maps one to the other."""

    def __init__(self) -> None:
        self.assembler = ResponseAssembler()
        self.tokens = _Tokens()
        self.finish_reason: FinishReason = "other"
        self.stopped = False  # message_stop arrived: the answer is complete
        self._tools: dict[int, int] = {}

    def read(self, event: dict[str, Any]) -> Iterator[Fragment]:
        kind = event.get("type")
        fragment: Fragment | None = None
        if kind == "message_start":
            self.tokens.update(as_dict(event.get("message")).get("usage"))
        elif kind == "content_block_start":
            fragment = self._start(event)
        elif kind == "content_block_delta":
            fragment = self._delta(event)
        elif kind == "message_delta":
            stop_reason = as_str(as_dict(event.get("delta")).get("stop_reason"))
            self.finish_reason = _STOP.get(stop_reason, "other")
            self.tokens.update(event.get("usage"))
        elif kind == "message_stop":
            self.stopped = True
        elif kind == "error":
            raise error_from_event(event.get("error"))
        # ping, content_block_stop and future event types carry nothing we use.
        shown = None if fragment is None else self.assembler.add(fragment)
        if shown is not None:
            yield shown

    def _start(self, event: dict[str, Any]) -> Fragment | None:
        block = as_dict(event.get("content_block"))
        if block.get("type") == "tool_use":
            self._tools[as_int(event.get("index")) or 0] = len(self._tools)
        return _block_fragment(block, len(self._tools) - 1)

    def _delta(self, event: dict[str, Any]) -> Fragment | None:
        delta = as_dict(event.get("delta"))
        kind = delta.get("type")
        if kind == "text_delta":
            return TextDelta(as_str(delta.get("text")))
        if kind == "thinking_delta":
            return ReasoningDelta(as_str(delta.get("thinking")))
        if kind == "input_json_delta":
            tool_index = self._tools.get(as_int(event.get("index")) or 0)
            if tool_index is None:
                raise InvalidResponseError(f"{_NAME} sent tool input for an unopened block")
            return ToolCallDelta(tool_index, arguments=as_str(delta.get("partial_json")))
        return None  # signature_delta and future delta types

    def end(self) -> StreamEnd:
        """The answer, once the stream said it was complete."""
        if not self.stopped:
            raise StreamIncompleteError(f"{_NAME} stream ended before message_stop")
        return StreamEnd(self.assembler.finish(self.finish_reason, self.tokens.usage()))


# What a token count reads of a Messages request.
_COUNTED = ("model", "system", "messages", "tools", "tool_choice")


class AnthropicProvider:
    """``LLMProvider`` for ``POST {base_url}/v1/messages``. It does not retry; wrap it in
    ``RetryingProvider`` (``make_provider`` does)."""

    def __init__(
        self, http: httpx.AsyncClient, *, base_url: str, api_key: str | None, settings: Settings
    ) -> None:
        self._url = f"{base_url.rstrip('/')}/v1/messages"
        self._headers = {"anthropic-version": ANTHROPIC_VERSION, "content-type": "application/json"}
        if api_key:  # a gateway in front of Anthropic may hold the key itself
            self._headers["x-api-key"] = api_key
        self._endpoint = JsonEndpoint(
            http,
            url=self._url,
            headers=self._headers,
            timeout=settings.provider_timeout_seconds,
            provider=_NAME,
            status_error=_status_error,
        )
        self._counter = JsonEndpoint(
            http,
            url=f"{self._url}/count_tokens",
            headers=self._headers,
            timeout=settings.provider_timeout_seconds,
            provider=_NAME,
            status_error=_status_error,
        )

    async def count_tokens(self, request: LLMRequest) -> int:
        """The input tokens ``request`` would take, counted by Anthropic's tokenizer
        (``POST /v1/messages/count_tokens``: the request's model, system, messages and
        tools; not retried)."""
        body = build_body(request, stream=False)
        counted = {k: v for k, v in body.items() if k in _COUNTED}
        tokens = as_int((await self._counter.post(counted)).get("input_tokens"))
        if tokens is None:
            raise InvalidResponseError(f"{_NAME} counted no input_tokens")
        return tokens

    async def complete(self, request: LLMRequest) -> LLMResponse:
        return parse_message(await self._endpoint.post(build_body(request, stream=False)))

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamItem]:
        reader = _EventReader()
        body = build_body(request, stream=True)
        async with aclosing(self._endpoint.events(body, done_marker=False)) as events:
            async for event in events:
                for fragment in reader.read(event):
                    yield fragment
        yield reader.end()


def _status_error(response: httpx.Response) -> ProviderError:
    _, message = error_details(response)
    return error_for_status(
        response.status_code,
        message,
        response.headers,
        provider=_NAME,
        context_exceeded=is_context_overflow(message),
    )
