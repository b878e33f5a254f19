"""Token streaming: model deltas relayed to the run's stream as Letta's partial messages.

Chunks of one message share its ``id`` and ``otid``; the ``otid`` changes whenever the kind of
message changes within the model's answer, and pending (approval) tool calls use the message
id itself, as in the whole-message form. ``send_message`` arguments are not relayed piece by
piece: that reply arrives whole when the step commits.
"""

from typing import Any

from app.kit.db import Database, utcnow
from app.messages.convert import SEND_MESSAGE, TEXT_IS_REPLY, letta_date, otid_for
from app.providers.base import ReasoningDelta, StreamItem, TextDelta, ToolCallDelta
from app.streaming.recorder import RunRecorder


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
    ) -> None:
        self.db = db
        self.recorder = recorder
        self.message_id = message_id
        self.step_id = step_id
        self.agent_type = agent_type
        self.pausing = pausing
        self._kind: str | None = None
        self._index = -1
        self._names: dict[int, str] = {}

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

    async def relay(self, item: StreamItem) -> None:
        payload: dict[str, Any] | None = None
        if isinstance(item, TextDelta) and item.text:
            if self.agent_type in TEXT_IS_REPLY:
                payload = {**self._base("assistant_message"), "content": item.text}
            else:
                payload = {
                    **self._base("reasoning_message"),
                    "reasoning": item.text,
                    "source": "non_reasoner_model",
                    "signature": None,
                }
        elif isinstance(item, ReasoningDelta) and item.text:
            payload = {
                **self._base("reasoning_message"),
                "reasoning": item.text,
                "source": "reasoner_model",
                "signature": None,
            }
        elif isinstance(item, ToolCallDelta):
            payload = self._tool(item)
        if payload is not None:
            await self.recorder.delta(self.db, payload)

    def _tool(self, item: ToolCallDelta) -> dict[str, Any] | None:
        if item.name:
            self._names[item.index] = item.name
        name = self._names.get(item.index)
        if name is None or name == SEND_MESSAGE:
            return None
        kind = "approval_request_message" if name in self.pausing else "tool_call_message"
        delta: dict[str, Any] = {}
        if item.name:
            delta["name"] = item.name
        if item.arguments:
            delta["arguments"] = item.arguments
        if item.id:
            delta["tool_call_id"] = item.id
        if not delta:
            return None
        return {**self._base(kind), "tool_call": delta, "tool_calls": delta}
