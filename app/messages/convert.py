"""Stored messages as Letta messages, the way clients read them (lists, responses, streams).
The model's view of the same messages is ``app.messages.chat``.

A stored message has a ``role`` (user, system, assistant, tool, approval, summary) and
structured parts: ``content`` ([{type: text|reasoning|image, ...}]), ``tool_calls`` ([{id,
name, arguments, requires_approval?}]), ``tool_returns`` ([{tool_call_id, status,
tool_return, stdout, stderr}]) and ``approvals`` (the client's approval items). One stored
message may become several Letta messages; they share its id and get distinct ``otid``s.

A ``send_message`` call is the agent's reply. With ``assistant_messages`` (Letta's
``use_assistant_message``) it is shown as an ``assistant_message`` and its tool result is not
shown; without, it is an ordinary ``tool_call_message`` followed by its ``tool_return_message``.
"""

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Protocol

from app.messages.chat import REPLY_ARGUMENT, SEND_MESSAGE, SUMMARY_ROLE, text_of
from app.messages.models import Message

# Agent types whose plain model text is their reply; others speak through send_message.
TEXT_IS_REPLY = frozenset({"letta_v1_agent", "sleeptime_agent"})


def shows_replies(agent_type: str, use_assistant_message: bool) -> bool:
    """Whether a turn's own response and stream show send_message calls as assistant
    messages. Letta's memgpt loop does (while ``use_assistant_message``); its newer loop
    (letta_v1_agent, sleeptime_agent) returns them as the tool calls they are."""
    return use_assistant_message and agent_type not in TEXT_IS_REPLY


def otid_for(message_id: str, index: int) -> str:
    """Letta's derived otid: the message uuid with its lowest 7 bits set to the part index."""
    if index < 0:
        return message_id
    raw = uuid.UUID(message_id.split("-", 1)[1]).int
    return str(uuid.UUID(int=(raw & ~0x7F) | (index & 0x7F)))


def letta_date(value: datetime) -> str:
    return value.astimezone(UTC).replace(microsecond=0).isoformat()


# Roles whose messages come from the client, which may name them with its own otid.
_SENT = frozenset({"user", "system", "approval"})


def _base(message: Message, message_type: str, index: int) -> dict[str, Any]:
    sent = message.otid if message.role in _SENT else None
    return {
        "id": message.id,
        "date": letta_date(message.created_at),
        "name": message.name,
        "message_type": message_type,
        "otid": sent or otid_for(message.id, index),
        "sender_id": message.sender_id,
        "step_id": message.step_id,
        "is_err": True if message.is_err else None,
        "seq_id": None,
        "run_id": message.run_id,
    }


def _call(call: dict[str, Any]) -> dict[str, Any]:
    return {"name": call["name"], "arguments": call["arguments"], "tool_call_id": call["id"]}


def reply_text(arguments: str) -> str:
    """The text of a send_message call: its ``message`` argument (JSON text when the
    argument is structured, as with a ``response_format``)."""
    try:
        args = json.loads(arguments or "{}")
    except json.JSONDecodeError:
        return arguments
    if not isinstance(args, dict):
        return arguments
    message = args.get(REPLY_ARGUMENT, "")
    return message if isinstance(message, str) else json.dumps(message, ensure_ascii=False)


def _is_reply(call: dict[str, Any]) -> bool:
    return call["name"] == SEND_MESSAGE and not call.get("requires_approval")


def _calls(message: Message, out: list[dict[str, Any]], replies: bool) -> None:
    """Tool calls in the order the model made them: runs of ordinary calls as one
    ``tool_call_message``, each reply (with ``replies``) as an ``assistant_message``."""
    pending: list[dict[str, Any]] = []

    def flush() -> None:
        if pending:
            item = _base(message, "tool_call_message", len(out))
            out.append({**item, "tool_call": pending[0], "tool_calls": list(pending)})
            pending.clear()

    for call in message.tool_calls or []:
        if call.get("requires_approval"):
            continue
        if replies and _is_reply(call):
            flush()
            item = _base(message, "assistant_message", len(out))
            out.append({**item, "content": reply_text(call["arguments"])})
        else:
            pending.append(_call(call))
    flush()


def _assistant(message: Message, agent_type: str, replies: bool) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in message.content:
        kind = part.get("type")
        if kind == "reasoning" or (kind == "text" and agent_type not in TEXT_IS_REPLY):
            item = _base(message, "reasoning_message", len(out))
            source = "reasoner_model" if part.get("is_native") else "non_reasoner_model"
            text = part.get("reasoning", part.get("text", ""))
            item.update(source=source, reasoning=text, signature=part.get("signature"))
            out.append(item)
        elif kind == "text":
            out.append({**_base(message, "assistant_message", len(out)), "content": part["text"]})
    _calls(message, out, replies)
    paused = [_call(c) for c in message.tool_calls or [] if c.get("requires_approval")]
    if paused:
        item = _base(message, "approval_request_message", -1)
        out.append({**item, "tool_call": paused[0], "tool_calls": paused})
    return out


def _tool(message: Message) -> list[dict[str, Any]]:
    returns = message.tool_returns or []
    items = [
        {
            "type": "tool",
            "tool_return": r["tool_return"],
            "status": r["status"],
            "tool_call_id": r["tool_call_id"],
            "stdout": r.get("stdout"),
            "stderr": r.get("stderr"),
        }
        for r in returns
    ]
    first = items[0] if items else {"tool_return": "", "status": "success", "tool_call_id": ""}
    item = _base(message, "tool_return_message", 0)
    item.update(
        tool_return=first["tool_return"],
        status=first["status"],
        tool_call_id=first["tool_call_id"],
        stdout=first.get("stdout"),
        stderr=first.get("stderr"),
        tool_returns=items,
    )
    return [item]


def _approval_response(message: Message) -> list[dict[str, Any]]:
    approvals = message.approvals or []
    first = next((a for a in approvals if a.get("type") == "approval"), None)
    item = _base(message, "approval_response_message", 0)
    item.update(
        approvals=approvals,
        approve=first.get("approve") if first else None,
        approval_request_id=first.get("tool_call_id") if first else None,
        reason=first.get("reason") if first else None,
    )
    return [item]


def _summary(message: Message) -> list[dict[str, Any]]:
    item = _base(message, "summary_message", 0)
    return [{**item, "summary": text_of(message.content), "compaction_stats": None}]


_BY_ROLE = {"tool": _tool, "approval": _approval_response, SUMMARY_ROLE: _summary}


def to_letta(
    message: Message, agent_type: str, *, assistant_messages: bool = True
) -> list[dict[str, Any]]:
    if message.role == "user":
        parts = message.content
        simple = all(p.get("type") == "text" for p in parts)
        content: Any = text_of(parts) if simple else parts
        return [{**_base(message, "user_message", 0), "content": content}]
    if message.role == "system":
        return [{**_base(message, "system_message", 0), "content": text_of(message.content)}]
    if message.role == "assistant":
        return _assistant(message, agent_type, assistant_messages)
    render = _BY_ROLE.get(message.role)
    return render(message) if render is not None else []


def _reply_results(messages: list[Message]) -> set[str]:
    """Ids of the stored tool results that answer send_message calls: the result names its
    tool, and a call in the same list names the call id (results stored before results
    carried their tool's name)."""
    ids = {
        call["id"]
        for m in messages
        if m.role == "assistant"
        for call in m.tool_calls or []
        if _is_reply(call)
    }
    return {
        m.id
        for m in messages
        if m.role == "tool"
        and (
            m.name == SEND_MESSAGE
            or (
                bool(m.tool_returns) and all(r["tool_call_id"] in ids for r in m.tool_returns or [])
            )
        )
    }


def to_letta_many(
    messages: list[Message],
    agent_type: str,
    types: set[str] | None = None,
    *,
    assistant_messages: bool = True,
) -> list[dict[str, Any]]:
    """Letta messages for stored ones. ``assistant_messages`` is Letta's
    ``use_assistant_message``: send_message calls become assistant messages and their tool
    results are left out."""
    hidden = _reply_results(messages) if assistant_messages else set()
    out = [
        m
        for message in messages
        if message.id not in hidden
        for m in to_letta(message, agent_type, assistant_messages=assistant_messages)
    ]
    return out if types is None else [m for m in out if m["message_type"] in types]


class CompactionEvent(Protocol):
    """What the engine tells of a compaction (its ``Compacted`` event)."""

    @property
    def event_id(self) -> str: ...
    @property
    def event_data(self) -> dict[str, Any]: ...
    @property
    def summary(self) -> Message | None: ...
    @property
    def stats(self) -> dict[str, Any] | None: ...


def compaction_messages(event: CompactionEvent, run_id: str | None) -> list[dict[str, Any]]:
    """Letta's ``event_message`` (the compaction began) and ``summary_message`` (what it
    wrote; none when it fell back to eviction), as a turn asking for
    ``include_compaction_messages`` sees them."""
    shown: list[dict[str, Any]] = [
        {
            "id": event.event_id,
            "date": letta_date(datetime.now(UTC)),
            "name": None,
            "message_type": "event_message",
            "otid": None,
            "sender_id": None,
            "step_id": None,
            "is_err": None,
            "seq_id": None,
            "run_id": run_id,
            "event_type": "compaction",
            "event_data": event.event_data,
        }
    ]
    if event.summary is not None:
        summary = to_letta(event.summary, "")[0]
        shown.append({**summary, "compaction_stats": event.stats})
    return shown
