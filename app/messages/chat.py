"""Stored messages as the model reads them: the chat messages of the provider prompt.

This is the engine's view of the history; how clients see the same messages (Letta's
messages) is ``app.messages.convert``, which the engine never needs.
"""

import json
from typing import Any, Protocol

SEND_MESSAGE = "send_message"
REPLY_ARGUMENT = "message"
# The role of a summary message: what compaction wrote in place of the messages it took out
# of the window. The model reads it as a user message in front of the kept ones.
SUMMARY_ROLE = "summary"


def text_of(parts: list[dict[str, Any]]) -> str:
    return "\n".join(p["text"] for p in parts if p.get("type") == "text")


def tool_envelope(status: str, text: str) -> str:
    """The JSON a tool result is shown to the model as (Letta's status/message envelope)."""
    return json.dumps({"status": "OK" if status == "success" else "Failed", "message": text})


class ChatSource(Protocol):
    """What ``to_chat`` reads: a stored message, or a lighter row with the same fields."""

    @property
    def role(self) -> str: ...
    @property
    def content(self) -> list[dict[str, Any]]: ...
    @property
    def tool_calls(self) -> list[dict[str, Any]] | None: ...
    @property
    def tool_returns(self) -> list[dict[str, Any]] | None: ...


def to_chat(message: ChatSource) -> list[dict[str, Any]]:
    """The chat messages the model sees for one stored message (approval records show none)."""
    if message.role == "user":
        return [{"role": "user", "content": text_of(message.content)}]
    if message.role == "assistant":
        chat: dict[str, Any] = {"role": "assistant", "content": text_of(message.content) or None}
        if message.tool_calls:
            chat["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": "function",
                    "function": {"name": c["name"], "arguments": c["arguments"]},
                }
                for c in message.tool_calls
            ]
        return [chat]
    if message.role == "tool":
        return [
            {
                "role": "tool",
                "tool_call_id": r["tool_call_id"],
                "content": tool_envelope(r["status"], r["tool_return"]),
            }
            for r in message.tool_returns or []
        ]
    if message.role == "system":
        return [{"role": "system", "content": text_of(message.content)}]
    if message.role == SUMMARY_ROLE:
        return [summary_chat(text_of(message.content))]
    return []


def summary_chat(summary: str) -> dict[str, Any]:
    """A summary message as the model reads it."""
    notice = (
        "Earlier messages of this conversation have left your context window; they are still "
        "in recall memory (conversation_search finds them). A summary of them:"
    )
    return {"role": "user", "content": f"{notice}\n\n{summary}"}
