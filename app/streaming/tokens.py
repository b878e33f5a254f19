"""Token streaming: model deltas relayed to the run's stream as Letta's partial messages.

Chunks of one message share its ``id`` and ``otid``; the ``otid`` changes whenever the kind of
message changes within the model's answer, and pending (approval) tool calls use the message
id itself, as in the whole-message form. A tool call's first chunk carries its name and id,
the later ones pieces of its arguments.

A ``send_message`` call is the reply. Where the turn shows replies as assistant messages
(``shows_replies``), the text of its ``message`` argument is decoded as it arrives and sent
as ``assistant_message`` deltas; otherwise it streams like any other tool call.

``finish`` tops the stream up from the model's final answer: whatever a provider did not
deliver as deltas (or a reply argument that is not a plain string) is sent then, so every
part of the answer reaches the stream exactly once.
"""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from app.kit.db import Database, utcnow
from app.messages.convert import (
    REPLY_ARGUMENT,
    SEND_MESSAGE,
    TEXT_IS_REPLY,
    letta_date,
    otid_for,
    reply_text,
)
from app.providers.base import (
    InvalidResponseError,
    LLMResponse,
    ReasoningDelta,
    StreamEnd,
    StreamItem,
    TextDelta,
    ToolCall,
    ToolCallDelta,
)
from app.streaming.jsonfield import StringFieldReader
from app.streaming.recorder import RunRecorder


@dataclass(slots=True)
class _Call:
    """What has been relayed of one tool call."""

    id: str | None = None
    name: str | None = None
    held: str = ""  # arguments that arrived before the name
    sent_head: bool = False
    arguments: str = ""  # the arguments relayed as tool-call chunks
    reply: StringFieldReader | None = None
    said: str = ""  # the reply text relayed as assistant chunks


class TokenRelay:
    def __init__(
        self,
        db: Database,
        recorder: RunRecorder,
        *,
        message_id: str,
        step_id: str,
        agent_type: str,
        pausing: set[str],
        replies: bool,
    ) -> None:
        self.db = db
        self.recorder = recorder
        self.message_id = message_id
        self.step_id = step_id
        self.agent_type = agent_type
        self.pausing = pausing
        self.replies = replies
        self._kind: str | None = None
        self._index = -1
        self._calls: dict[int, _Call] = {}
        self._text = ""
        self._reasoning = ""

    @property
    def relayed(self) -> bool:
        """Whether any part of the answer has gone out to the stream."""
        return self._kind is not None

    def _base(self, kind: str) -> dict[str, Any]:
        if kind != self._kind:
            self._kind, self._index = kind, self._index + 1
        index = -1 if kind == "approval_request_message" else self._index
        return {
            "id": self.message_id,
            "date": letta_date(utcnow()),
            "name": None,
            "message_type": kind,
            "otid": otid_for(self.message_id, index),
            "sender_id": None,
            "step_id": self.step_id,
            "is_err": None,
        }

    async def _send(self, payload: dict[str, Any] | None) -> None:
        if payload is not None:
            await self.recorder.delta(self.db, payload)

    async def relay(self, item: StreamItem) -> None:
        if isinstance(item, TextDelta) and item.text:
            self._text += item.text
            await self._send(self._text_chunk(item.text))
        elif isinstance(item, ReasoningDelta) and item.text:
            self._reasoning += item.text
            await self._send(self._reasoning_chunk(item.text, native=True))
        elif isinstance(item, ToolCallDelta):
            await self._tool(item)

    def _text_chunk(self, text: str) -> dict[str, Any]:
        if self.agent_type in TEXT_IS_REPLY:
            return {**self._base("assistant_message"), "content": text}
        return self._reasoning_chunk(text, native=False)

    def _reasoning_chunk(self, text: str, *, native: bool) -> dict[str, Any]:
        source = "reasoner_model" if native else "non_reasoner_model"
        return {
            **self._base("reasoning_message"),
            "reasoning": text,
            "source": source,
            "signature": None,
        }

    async def _tool(self, item: ToolCallDelta) -> None:
        call = self._calls.setdefault(item.index, _Call())
        call.id = call.id or item.id
        if item.name and not call.name:
            call.name = item.name
            if self._is_reply(call.name):
                call.reply = StringFieldReader(REPLY_ARGUMENT)
        if call.name is None:
            call.held += item.arguments
            return
        pieces, call.held = call.held + item.arguments, ""
        await self._send(self._piece(call, pieces))

    def _is_reply(self, name: str) -> bool:
        return self.replies and name == SEND_MESSAGE and name not in self.pausing

    def _piece(self, call: _Call, arguments: str) -> dict[str, Any] | None:
        """The chunk for new argument text of ``call`` (or its head), if any."""
        if call.reply is not None:
            text = call.reply.feed(arguments)
            call.said += text
            return {**self._base("assistant_message"), "content": text} if text else None
        delta: dict[str, Any] = {}
        if not call.sent_head:
            call.sent_head = True
            delta["name"] = call.name
            if call.id:
                delta["tool_call_id"] = call.id
        if arguments:
            call.arguments += arguments
            delta["arguments"] = arguments
        if not delta:
            return None
        kind = "approval_request_message" if call.name in self.pausing else "tool_call_message"
        return {**self._base(kind), "tool_call": delta, "tool_calls": delta}

    async def follow(self, stream: AsyncIterator[StreamItem]) -> LLMResponse:
        """Relay a model's stream; its final answer is returned."""
        async for item in stream:
            if isinstance(item, StreamEnd):
                await self.finish(item.response)
                return item.response
            await self.relay(item)
        raise InvalidResponseError("the model's stream ended without its final response")

    async def finish(self, response: LLMResponse) -> None:
        """Send what the deltas left out of the final answer, in Letta's order."""
        if response.reasoning.startswith(self._reasoning):
            rest = response.reasoning[len(self._reasoning) :]
            await self._send(self._reasoning_chunk(rest, native=True) if rest else None)
        if response.text.startswith(self._text):
            rest = response.text[len(self._text) :]
            await self._send(self._text_chunk(rest) if rest else None)
        by_id = {c.id: c for c in self._calls.values() if c.id}
        for made in response.tool_calls:
            await self._send(self._top_up(by_id.get(made.id) or self._new(made), made))

    def _new(self, made: ToolCall) -> _Call:
        call = _Call(id=made.id, name=made.name)
        if self._is_reply(made.name):
            call.reply = StringFieldReader(REPLY_ARGUMENT)
        return call

    def _top_up(self, call: _Call, made: ToolCall) -> dict[str, Any] | None:
        if call.reply is not None:
            text = reply_text(made.arguments)
            rest = text[len(call.said) :] if text.startswith(call.said) else ""
            call.said += rest
            return {**self._base("assistant_message"), "content": rest} if rest else None
        missing = made.arguments[len(call.arguments) :]
        if not made.arguments.startswith(call.arguments):
            missing = ""
        if call.sent_head and not missing:
            return None
        return self._piece(call, missing)
