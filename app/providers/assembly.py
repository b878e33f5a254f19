"""Turning streamed fragments into one ``LLMResponse``, the same way for every adapter.

Both adapters, streaming or not, feed their output through ``ResponseAssembler`` so the rules
for what a finished response looks like (tool-call order, usable ids, what counts as empty,
text that is valid Unicode) live in one place. ``sse_data`` reads the ``data:`` payloads of a
server-sent-events body, which is how both vendors stream.
"""

import json
import re
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


# What both vendors accept as a tool call's id and a function's name when a conversation is
# sent back to them; anything else in the history would get every later request refused.
_WIRE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_NOT_WIRE = re.compile(r"[^A-Za-z0-9_-]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")


def new_call_id() -> str:
    """An id for a tool call the model left unnamed; the agent loop needs one to pair results."""
    return f"call_{secrets.token_hex(4)}"


def _call_id(given: str | None) -> str:
    """The model's id for a call, or a new one when it gave none or one that could not be
    sent back to a provider (or stored): ids are opaque, only their pairing matters."""
    return given if given and _WIRE_NAME.fullmatch(given) else new_call_id()


def wire_name(name: str) -> str:
    """A called tool's name as it may be sent back in the history. A model may call a name
    no tool has (``multi_tool_use.parallel``); the call stays stored as made, and its error
    result names it, but providers refuse such names in a request, so they are mended."""
    if _WIRE_NAME.fullmatch(name):
        return name
    return _NOT_WIRE.sub("_", name)[:64] or "_"


def well_formed(text: str) -> str:
    """``text`` as valid Unicode: JSON escapes may hand us UTF-16 surrogates, which no
    database can store; paired halves are joined, a lone half becomes U+FFFD."""
    if not _SURROGATE.search(text):
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


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
            call = _PartialCall(id=_call_id(delta.id), name="", arguments="")
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
            arguments = well_formed(call.arguments) or "{}"
            calls.append(ToolCall(call.id, well_formed(call.name), arguments))
        text = well_formed("".join(self._text))
        if not text and not calls and finish_reason != "length":
            raise InvalidResponseError("the model returned neither text nor tool calls")
        reasoning = well_formed("".join(self._reasoning))
        return LLMResponse(text, calls, finish_reason, usage, reasoning)


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
