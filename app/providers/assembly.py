"""Turning streamed fragments into one ``LLMResponse``, the same way for every adapter.

Both adapters, streaming or not, feed their output through ``ResponseAssembler`` so the rules
for what a finished response looks like (tool-call order, generated ids, what counts as empty)
live in one place. ``sse_data`` reads the ``data:`` payloads of a server-sent-events body,
which is how both vendors stream.
"""

import json
import secrets
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import Any

import httpx

from app.providers.base import (
    FinishReason,
    InvalidResponseError,
    LLMResponse,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)

Fragment = TextDelta | ReasoningDelta | ToolCallDelta


def new_call_id() -> str:
    """An id for a tool call the model left unnamed; the agent loop needs one to pair results."""
    return f"call_{secrets.token_hex(4)}"


@dataclass(slots=True)
class _PartialCall:
    id: str
    name: str
    arguments: str


class ResponseAssembler:
    """Accumulates fragments; ``add`` returns each fragment as the consumer should see it.

    A tool call's id is fixed when its index is first seen, generated if the model sent none,
    so the id in the streamed deltas and in the final response is the same.
    """

    def __init__(self) -> None:
        self._text: list[str] = []
        self._reasoning: list[str] = []
        self._calls: dict[int, _PartialCall] = {}

    def add(self, fragment: Fragment) -> Fragment | None:
        """Record a fragment; None means it carried nothing worth passing on."""
        if isinstance(fragment, ToolCallDelta):
            return self._add_call(fragment)
        if not fragment.text:
            return None
        target = self._text if isinstance(fragment, TextDelta) else self._reasoning
        target.append(fragment.text)
        return fragment

    def _add_call(self, delta: ToolCallDelta) -> ToolCallDelta | None:
        call = self._calls.get(delta.index)
        if call is None:
            call = _PartialCall(id=delta.id or new_call_id(), name="", arguments="")
            self._calls[delta.index] = call
            delta = ToolCallDelta(delta.index, call.id, delta.name, delta.arguments)
        elif not (delta.name or delta.arguments):
            return None
        if delta.name and not call.name:
            call.name = delta.name  # some servers repeat the name in every fragment
        call.arguments += delta.arguments
        return delta

    def finish(self, finish_reason: FinishReason, usage: Usage) -> LLMResponse:
        """The response so far; a response that says nothing at all is invalid.

        Tool calls with empty arguments get ``{}`` so every call's arguments parse as JSON.
        """
        calls: list[ToolCall] = []
        for index in sorted(self._calls):
            call = self._calls[index]
            if not call.name:
                raise InvalidResponseError(f"tool call {call.id} at index {index} has no name")
            calls.append(ToolCall(call.id, call.name, call.arguments or "{}"))
        text = "".join(self._text)
        if not text and not calls and finish_reason != "length":
            raise InvalidResponseError("the model returned neither text nor tool calls")
        return LLMResponse(text, calls, finish_reason, usage, "".join(self._reasoning))


async def sse_data(response: httpx.Response) -> AsyncGenerator[str, None]:
    """The ``data:`` payloads of an event stream; ``event:`` names, comments and blank lines
    are dropped because both vendors repeat the event type inside the JSON."""
    async for line in response.aiter_lines():
        if line.startswith("data:"):
            yield line[5:].strip()


def decode_object(text: str | bytes, *, what: str) -> dict[str, Any]:
    """Parse a JSON object from the wire; anything else is the provider's fault, not ours."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise InvalidResponseError(f"{what} is not valid JSON: {str(text)[:200]!r}") from exc
    if not isinstance(value, dict):
        raise InvalidResponseError(f"{what} is not a JSON object: {str(text)[:200]!r}")
    return value


def as_dict(value: object) -> dict[str, Any]:
    """A nested object of a payload, or an empty one when it is missing or mistyped."""
    return value if isinstance(value, dict) else {}


def as_int(value: object) -> int | None:
    """A token count, tolerating providers that omit it or send null."""
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def as_str(value: object) -> str:
    """A text field, tolerating null where a string is expected (``content: null``)."""
    return value if isinstance(value, str) else ""
