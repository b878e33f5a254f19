"""Token streaming: the engine's ``TokenDelta`` events rendered as Letta's partial messages.

Chunks of one message share its ``id`` and ``otid``; the ``otid`` changes whenever the kind of
message changes within the model's answer, and pending (approval) tool calls use the message
id itself, as in the whole-message form. A tool call's first chunk carries its name and id,
the later ones pieces of its arguments.

A ``send_message`` call is the reply. Where the turn shows replies as assistant messages
(``shows_replies``), the text of its ``message`` argument is decoded as it arrives and sent
as ``assistant_message`` deltas; otherwise it streams like any other tool call. A reply whose
``message`` is not a plain string shows as its JSON text, sent once the step is stored
(``finish``).

Each chunk is one fresh dict, numbered in place by the recorder: the hot path of a stream.
"""

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from app.engine.events import Answer, Part, TokenDelta
from app.messages.chat import REPLY_ARGUMENT, SEND_MESSAGE
from app.messages.convert import TEXT_IS_REPLY, letta_date, otid_for, reply_text
from app.messages.models import Message
from app.streaming.jsonfield import StringFieldReader

APPROVAL = "approval_request_message"


@dataclass(slots=True)
class _Call:
    """What has been rendered of one tool call."""

    id: str | None = None
    sent_head: bool = False
    reply: StringFieldReader | None = None
    said: str = ""  # the reply text sent as assistant chunks


class TokenRenderer:
    """The Letta chunks of one answer's deltas (``render``), and the rest of its reply text
    once the answer is stored (``finish``)."""

    def __init__(self, answer: Answer, *, replies: bool) -> None:
        self.answer = answer
        self.replies = replies
        self._text_is_reply = answer.agent_type in TEXT_IS_REPLY
        self._kind: str | None = None
        self._index = -1
        self._otid = ""
        self._calls: dict[int, _Call] = {}
        self._second = -1
        self._date = ""

    def render(self, delta: TokenDelta) -> dict[str, Any] | None:
        if delta.part is Part.TOOL_CALL:
            return self._tool(delta)
        if delta.part is Part.REASONING:
            return self._reasoning(delta.text, "reasoner_model")
        if self._text_is_reply:
            return self._content(delta.text)
        return self._reasoning(delta.text, "non_reasoner_model")

    def _base(self, kind: str) -> dict[str, Any]:
        if kind != self._kind:
            self._kind, self._index = kind, self._index + 1
            index = -1 if kind == APPROVAL else self._index
            self._otid = otid_for(self.answer.message_id, index)
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._date = letta_date(datetime.fromtimestamp(second, UTC))
        return {
            "id": self.answer.message_id,
            "date": self._date,
            "name": None,
            "message_type": kind,
            "otid": self._otid,
            "sender_id": None,
            "step_id": self.answer.step_id,
            "is_err": None,
        }

    def _content(self, text: str) -> dict[str, Any]:
        chunk = self._base("assistant_message")
        chunk["content"] = text
        return chunk

    def _reasoning(self, text: str, source: str) -> dict[str, Any]:
        chunk = self._base("reasoning_message")
        chunk["reasoning"], chunk["source"], chunk["signature"] = text, source, None
        return chunk

    def _tool(self, delta: TokenDelta) -> dict[str, Any] | None:
        call = self._calls.get(delta.index)
        if call is None:
            call = self._calls[delta.index] = _Call(delta.call_id)
            if (
                self.replies
                and delta.name == SEND_MESSAGE
                and delta.name not in self.answer.pausing
            ):
                call.reply = StringFieldReader(REPLY_ARGUMENT)
        call.id = call.id or delta.call_id
        if call.reply is not None:
            text = call.reply.feed(delta.text)
            call.said += text
            return self._content(text) if text else None
        piece: dict[str, Any] = {}
        if not call.sent_head:
            call.sent_head = True
            piece["name"] = delta.name
            if delta.call_id:
                piece["tool_call_id"] = delta.call_id
        if delta.text:
            piece["arguments"] = delta.text
        if not piece:
            return None
        chunk = self._base(APPROVAL if delta.name in self.answer.pausing else "tool_call_message")
        chunk["tool_call"] = chunk["tool_calls"] = piece
        return chunk

    def finish(self, stored: Message) -> list[dict[str, Any]]:
        """The reply text the deltas could not show (a ``message`` that is not a plain
        string), from the answer as stored."""
        by_id = {c.id: c for c in self._calls.values() if c.id and c.reply is not None}
        chunks: list[dict[str, Any]] = []
        for made in stored.tool_calls or []:
            call = by_id.get(made["id"])
            if call is None:
                continue
            text = reply_text(made["arguments"])
            rest = text[len(call.said) :] if text.startswith(call.said) else ""
            if rest:
                call.said += rest
                chunks.append(self._content(rest))
        return chunks
