"""The transcript a sleeptime agent reads: the primary's messages it has not covered yet,
one line per message the way Letta renders them, wrapped in a reminder of its role."""

import json
from typing import Any

from app.messages.chat import SEND_MESSAGE
from app.messages.models import Message

REMINDER = """\
<system-reminder>
You are a background memory agent. The conversation below is not yours: it is between another
agent (shown as "assistant", the primary agent) and its user (shown as "user"). Nobody will
read a reply from you. Your job is to update the shared memory blocks so the primary agent
knows what matters about its user and their conversation. Consult your memory_persona block
for how to do this, edit the blocks with your memory tools, and call memory_finish_edits when
you are done or when nothing is worth saving.
</system-reminder>

Messages:
"""


def _text_parts(name: str, parts: list[dict[str, Any]]) -> list[str]:
    lines = []
    for part in parts:
        if part.get("type") == "text":
            lines.append(f"{name}: {part['text']}")
        elif part.get("type") == "image":
            lines.append(f"{name}: [Image Here]")
        elif part.get("type") == "reasoning":
            lines.append(f"{name}: <thinking>{part.get('reasoning', '')}</thinking>")
    return lines


def _call_line(call: dict[str, Any]) -> str:
    if call["name"] == SEND_MESSAGE:
        try:
            args = json.loads(call["arguments"] or "{}")
            return f"assistant: {args.get('message', '')}"
        except (json.JSONDecodeError, AttributeError):
            return f"assistant: {call['arguments']}"
    return f"assistant: Calling tool {call['name']}"


def _user(message: Message) -> str | None:
    return "\n".join(_text_parts(message.name or "user", message.content)) or None


def _assistant(message: Message) -> str | None:
    lines = _text_parts("assistant", message.content)
    lines += [_call_line(c) for c in message.tool_calls or []]
    return "\n".join(lines) or None


def _tool(message: Message) -> str | None:
    returns = message.tool_returns or []
    text = returns[0]["tool_return"] if returns else ""
    return None if text == "None" else f"assistant: Tool call returned {text}"


def _approval(message: Message) -> str | None:
    decisions = [a for a in message.approvals or [] if a.get("type") == "approval"]
    if not decisions:
        return None
    if all(a.get("approve") for a in decisions):
        return "[User approved]"
    return f"[User rejected: {decisions[0].get('reason') or ''}]"


_RENDER = {"user": _user, "assistant": _assistant, "tool": _tool, "approval": _approval}


def render(message: Message) -> str | None:
    """One line (or None) per stored message; system messages are left out."""
    renderer = _RENDER.get(message.role)
    return renderer(message) if renderer else None


def transcript(messages: list[Message]) -> str:
    """The messages (in seq order) as the reader sees them. The primary's conversations run
    side by side, so when the messages come from more than one thread each thread is shown
    on its own, under a heading, in the order its first message came. Copies a fork made of
    messages shown before are not passed in (see ``app.sleeptime.job``)."""
    threads: dict[str | None, list[str]] = {}
    for message in messages:
        if (line := render(message)) is not None:
            threads.setdefault(message.conversation_id, []).append(line)
    if len(threads) <= 1:
        return REMINDER + "\n".join(line for lines in threads.values() for line in lines)
    sections = [
        "\n".join([_heading(conversation_id), *lines]) for conversation_id, lines in threads.items()
    ]
    return REMINDER + "\n\n".join(sections)


def _heading(conversation_id: str | None) -> str:
    if conversation_id is None:
        return "[Main conversation]"
    return f"[Conversation {conversation_id}]"
