"""New stored messages of a run: one constructor for every place that writes them."""

from collections.abc import Sequence
from typing import Any, NamedTuple

from app.kit.db import utcnow
from app.kit.ids import Prefix, new_id
from app.kit.repository import detached
from app.messages.chat import text_of
from app.messages.models import Message
from app.messages.schemas import ImagePart, MessageCreate, TextPart
from app.runs.models import Run


class Owner(NamedTuple):
    """Whose message it is: the agent, the thread (a conversation, or None for the agent's
    main thread), and the run (and group) it belongs to. Messages an agent starts with (its
    system message, its initial sequence) belong to no run."""

    organization_id: str
    agent_id: str
    run_id: str | None
    group_id: str | None
    conversation_id: str | None = None

    @classmethod
    def of(cls, run: Run) -> "Owner":
        return cls(run.organization_id, run.agent_id, run.id, run.group_id, run.conversation_id)


def new_message(owner: Owner, role: str, *, step_id: str | None = None, **fields: Any) -> Message:
    """A new message, not yet in any session (messages are written with one Core INSERT)."""
    return detached(
        Message,
        {
            "id": new_id(Prefix.message),
            "organization_id": owner.organization_id,
            "agent_id": owner.agent_id,
            "run_id": owner.run_id,
            "group_id": owner.group_id,
            "conversation_id": owner.conversation_id,
            "step_id": step_id,
            "role": role,
            "is_err": False,
            "created_at": utcnow(),
            "content": [],
            **fields,
        },
    )


def tool_result(
    owner: Owner,
    call_id: str,
    status: str,
    text: str,
    *,
    step_id: str | None = None,
    stdout: Sequence[str] = (),
    stderr: Sequence[str] = (),
) -> Message:
    """The result of one tool call, as the model and the history see it (with what a tool
    run out of process printed, kept for the history only)."""
    returns = [
        {
            "tool_call_id": call_id,
            "status": status,
            "tool_return": text,
            "stdout": list(stdout) or None,
            "stderr": list(stderr) or None,
        }
    ]
    message = new_message(
        owner, "tool", step_id=step_id, tool_call_id=call_id, tool_returns=returns
    )
    message.text = text
    return message


def content_parts(content: str | Sequence[TextPart | ImagePart]) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    return [p.model_dump() for p in content]


def sent_message(owner: Owner, item: MessageCreate) -> Message:
    """A message as the client sent it: its role, content, name, sender and ``otid``."""
    parts = content_parts(item.content)
    message = new_message(
        owner, item.role, content=parts, name=item.name, otid=item.otid, sender_id=item.sender_id
    )
    message.text = text_of(parts) or None
    return message
