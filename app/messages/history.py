"""An agent's history from its first message: the system message (Letta's
``message_ids[0]``), the messages it starts with, and the system message as clients read it.

The stored system message is the prompt compiled when the agent was created or reset. The
model never reads it from the history (each step compiles the live prompt), and lists show
that live prompt in its place, so what a client reads is what the next step will send.
"""

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.agents.prompt import compile_system
from app.blocks.memory import MemoryView
from app.blocks.repository import BlockRepository
from app.messages.chat import SEND_MESSAGE, text_of
from app.messages.convert import TEXT_IS_REPLY
from app.messages.factory import Owner, content_parts, new_message, sent_message, tool_result
from app.messages.models import Message
from app.messages.repository import SYSTEM_SEQ
from app.messages.schemas import MessageCreate

BOOT_THOUGHT = "Starting up: my memory is loaded. Checking that my messages reach the user."
BOOT_GREETING = "Hi! I'm ready when you are."
# What a send_message call in the starting history returned, as Letta records it.
NO_RESULT = "None"


def _owner(agent: Agent) -> Owner:
    return Owner(agent.organization_id, agent.id, None, None)


def system_message(agent: Agent, blocks: Sequence[MemoryView]) -> Message:
    """The agent's system message: its prompt compiled with its memory, at ``SYSTEM_SEQ``.
    It has no search text, so conversation_search never returns it."""
    prompt = compile_system(agent, blocks, 0)
    message = new_message(_owner(agent), "system", content=[{"type": "text", "text": prompt}])
    message.seq = SYSTEM_SEQ
    return message


def _local_time(agent: Agent) -> str:
    try:
        zone: Any = ZoneInfo(agent.timezone) if agent.timezone else UTC
    except (ZoneInfoNotFoundError, ValueError):
        zone = UTC
    return datetime.now(zone).strftime("%Y-%m-%d %I:%M:%S %p %Z%z")


def _spoken(agent: Agent, text: str, thought: str | None = None) -> list[Message]:
    """Something the agent said: plain text for agent types whose text is their reply, else
    a ``send_message`` call and its result, as Letta writes the starting history."""
    owner = _owner(agent)
    if agent.agent_type in TEXT_IS_REPLY and thought is None:
        message = new_message(owner, "assistant", content=[{"type": "text", "text": text}])
        message.text = text
        return [message]
    call_id = f"call_{uuid.uuid4().hex[:24]}"
    arguments = json.dumps({"message": text})
    thinking = [{"type": "reasoning", "reasoning": thought, "is_native": False}] if thought else []
    call = new_message(
        owner,
        "assistant",
        content=thinking,
        tool_calls=[{"id": call_id, "name": SEND_MESSAGE, "arguments": arguments}],
    )
    call.text = arguments
    result = tool_result(owner, call_id, "success", NO_RESULT)
    result.name = SEND_MESSAGE  # as the loop names a tool result: lists can hide it
    return [call, result]


def boot_sequence(agent: Agent) -> list[Message]:
    """The canned start: a greeting through ``send_message`` (not for sleeptime agents) and
    the event telling the agent its user logged in for the first time."""
    greeting = (
        [] if agent.agent_type == "sleeptime_agent" else _spoken(agent, BOOT_GREETING, BOOT_THOUGHT)
    )
    event = {"type": "login", "last_login": "Never (first login)", "time": _local_time(agent)}
    login = MessageCreate(role="user", content=json.dumps(event))
    return [*greeting, sent_message(_owner(agent), login)]


def initial_sequence(agent: Agent, items: Sequence[MessageCreate]) -> list[Message]:
    """The client's ``initial_message_sequence``, in order, after the system message."""
    stored: list[Message] = []
    for item in items:
        if item.role == "assistant":
            stored += _spoken(agent, text_of(content_parts(item.content)))
        else:
            stored.append(sent_message(_owner(agent), item))
    return stored


def _copy(message: Message) -> Message:
    """A detached copy, so a change to it is never written back."""
    return Message(**{a.key: getattr(message, a.key) for a in inspect(Message).column_attrs})


async def as_listed(
    session: AsyncSession, organization_id: str, agent: Agent, stored: list[Message]
) -> list[Message]:
    """A page of history as clients read it: its system message, if on the page, carries
    the prompt the agent's next step will send."""
    if not stored or stored[0].seq != SYSTEM_SEQ:
        return stored
    pairs = await BlockRepository(session, organization_id).for_agents([agent.id])
    evicted = max(agent.context_start_seq - 1, 0)
    live = _copy(stored[0])
    live.content = [{"type": "text", "text": compile_system(agent, [b for _, b in pairs], evicted)}]
    return [live, *stored[1:]]


def starting(
    agent: Agent,
    blocks: Sequence[MemoryView],
    items: Sequence[MessageCreate] | None,
    *,
    boot: bool,
) -> list[Message]:
    """A new agent's first messages: its system message, then the client's initial
    sequence or, when it sent none, the boot sequence if ``boot``. Their seqs are set and the
    (not yet written) agent's counter moved past them."""
    if items is not None:
        rest = initial_sequence(agent, items)
    else:
        rest = boot_sequence(agent) if boot else []
    for seq, message in enumerate(rest, start=SYSTEM_SEQ + 1):
        message.seq = seq
    agent.last_message_seq = len(rest)
    return [system_message(agent, blocks), *rest]
