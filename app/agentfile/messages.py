"""Stored messages as an agent file writes them (Letta's ``MessageSchema``), and back.

The two shapes differ in three places. Tool calls are OpenAI's objects in the file
(``{id, type: function, function: {name, arguments}}``) and flat here. A tool result is a
``tool`` message whose ``tool_returns`` hold the text (``func_response``) and whose content
is the status envelope the model saw; here the text lives in ``tool_returns`` alone. A call
that waits for approval is an ``approval`` message with tool calls in the file, and an
assistant message whose calls are marked ``requires_approval`` here (a call of such a
message that does not need approval says so with ``requires_approval: false``).

Both directions keep every field the other reads, so export then import gives back the
same messages: the round trip is exact.
"""

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from app.agentfile.schemas import MessageSchema
from app.kit.db import utcnow
from app.kit.errors import Unprocessable
from app.kit.ids import Prefix, new_id
from app.messages.chat import SEND_MESSAGE, text_of, tool_envelope
from app.messages.models import Message


def _file_call(call: dict[str, Any], paused: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": call["id"],
        "type": "function",
        "function": {"name": call["name"], "arguments": call["arguments"]},
    }
    if paused and not call.get("requires_approval"):
        item["requires_approval"] = False
    return item


def _file_returns(message: Message) -> list[dict[str, Any]]:
    return [
        {
            "tool_call_id": r.get("tool_call_id"),
            "status": r.get("status", "success"),
            "stdout": r.get("stdout"),
            "stderr": r.get("stderr"),
            "func_response": r.get("tool_return"),
        }
        for r in message.tool_returns or []
    ]


def _first_approval(message: Message) -> dict[str, Any]:
    return next((a for a in message.approvals or [] if a.get("type") == "approval"), {})


def to_file(
    message: Message, file_id: str, agent_file_id: str, group_file_ids: Mapping[str, str]
) -> MessageSchema:
    """One stored message as the file writes it, with file ids."""
    calls = message.tool_calls or []
    paused = message.role == "assistant" and any(c.get("requires_approval") for c in calls)
    content = list(message.content or [])
    returns = message.tool_returns or []
    if message.role == "tool" and returns:
        first = returns[0]
        envelope = tool_envelope(first.get("status", "success"), first.get("tool_return") or "")
        content = [{"type": "text", "text": envelope}]
    decision = _first_approval(message) if message.role == "approval" else {}
    return MessageSchema(
        role="approval" if paused else message.role,  # type: ignore[arg-type]
        content=content,
        name=message.name,
        otid=message.otid,
        sender_id=message.sender_id,
        group_id=group_file_ids.get(message.group_id or ""),
        id=file_id,
        agent_id=agent_file_id,
        tool_calls=[_file_call(c, paused) for c in calls] or None,
        tool_call_id=message.tool_call_id,
        tool_returns=_file_returns(message) if message.role == "tool" else [],
        created_at=message.created_at,
        approve=decision.get("approve"),
        approval_request_id=decision.get("tool_call_id"),
        denial_reason=decision.get("reason"),
        approvals=list(message.approvals or []),
    )


def _parts(content: str | list[dict[str, Any]] | None) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [dict(part) for part in content]


def _our_call(call: dict[str, Any], paused: bool, where: str) -> dict[str, Any]:
    nested = call.get("function")
    function: dict[str, Any] = nested if isinstance(nested, dict) else call
    name, arguments = function.get("name"), function.get("arguments", "")
    if not isinstance(call.get("id"), str) or not isinstance(name, str):
        raise Unprocessable(f"{where}.tool_calls: every tool call needs an id and a name")
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments)
    ours: dict[str, Any] = {"id": call["id"], "name": name, "arguments": arguments}
    if paused and call.get("requires_approval", True):
        ours["requires_approval"] = True
    return ours


def _envelope_text(parts: list[dict[str, Any]]) -> tuple[str, str]:
    """(status, text) of a tool result known only by its content: Letta's JSON envelope
    ``{"status": "OK"|"Failed", "message": ...}``, or plain text."""
    raw = text_of(parts)
    try:
        envelope = json.loads(raw)
    except json.JSONDecodeError:
        return "success", raw
    if not isinstance(envelope, dict) or "message" not in envelope:
        return "success", raw
    status = "error" if envelope.get("status") == "Failed" else "success"
    text = envelope["message"]
    return status, text if isinstance(text, str) else json.dumps(text)


def _our_returns(item: MessageSchema, parts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    returns = []
    for r in item.tool_returns or []:
        text = r.get("func_response")
        status = r.get("status") if r.get("status") in ("success", "error") else "success"
        if text is None:
            status, text = _envelope_text(parts)
        returns.append(
            {
                "tool_call_id": r.get("tool_call_id") or item.tool_call_id or "",
                "status": status,
                "tool_return": text if isinstance(text, str) else json.dumps(text),
                "stdout": r.get("stdout"),
                "stderr": r.get("stderr"),
            }
        )
    if not returns:
        status, text = _envelope_text(parts)
        returns = [
            {
                "tool_call_id": item.tool_call_id or "",
                "status": status,
                "tool_return": text,
                "stdout": None,
                "stderr": None,
            }
        ]
    return returns


def _approvals(item: MessageSchema) -> list[dict[str, Any]]:
    if item.approvals:
        return [dict(a) for a in item.approvals]
    if item.approve is None:
        return []
    decision = {"type": "approval", "tool_call_id": item.approval_request_id or ""}
    return [{**decision, "approve": item.approve, "reason": item.denial_reason}]


def _search_text(message: Message) -> str | None:
    if message.role == "tool":
        return (message.tool_returns or [{}])[0].get("tool_return") or None
    texts = [text_of(message.content)] if text_of(message.content) else []
    texts += [c["arguments"] for c in message.tool_calls or [] if c["name"] == SEND_MESSAGE]
    return "\n".join(texts) or None


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def from_file(
    item: MessageSchema, organization_id: str, agent_id: str, group_id: str | None, where: str
) -> Message:
    """A file message as a new stored message of ``agent_id`` (its seq is set by the
    caller)."""
    parts = _parts(item.content)
    paused = item.role == "approval" and bool(item.tool_calls)
    role = "assistant" if paused else item.role
    calls = (
        [_our_call(c, paused, where) for c in item.tool_calls or []] if role == "assistant" else []
    )
    message = Message(
        id=new_id(Prefix.message),
        organization_id=organization_id,
        agent_id=agent_id,
        role=role,
        content=[] if role == "tool" else parts,
        tool_calls=calls or None,
        tool_call_id=item.tool_call_id if role == "tool" else None,
        tool_returns=_our_returns(item, parts) if role == "tool" else None,
        approvals=_approvals(item) if role == "approval" else None,
        name=item.name,
        otid=item.otid,
        sender_id=item.sender_id,
        group_id=group_id,
        is_err=False,
        created_at=_aware(item.created_at) if item.created_at else utcnow(),
    )
    message.text = _search_text(message)
    return message
