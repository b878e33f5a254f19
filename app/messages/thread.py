"""A message thread of an agent, with the state of its context window.

An agent talks in threads: its main thread (messages and runs with no ``conversation_id``)
and any number of conversations. All of them share the agent's memory blocks, tools and
message numbering (``seq`` is allocated under the agent's row whatever the thread); each
keeps its own window: where its context starts (``context_start_seq``), the message that
summarises what left it (``summary_message_id``) and the tool calls it waits on
(``pending_approval``). The main thread keeps these on the agent's row, where the statement
that numbers a step's messages writes them at no extra cost; a conversation keeps them on its
own row (``conversations``), written by ``ThreadWindows``.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, inspect, select, update

from app.agents.models import Agent
from app.conversations.models import Conversation
from app.kit.db import utcnow
from app.kit.repository import Repository, table_of

# The window columns, the same on ``agents`` (main thread) and ``conversations``.
WINDOW_COLUMNS = ("context_start_seq", "summary_message_id", "pending_approval")


@dataclass(frozen=True, slots=True)
class Thread:
    """One thread's window state, as read at the start of a step (or an approval)."""

    agent_id: str
    conversation_id: str | None  # None: the agent's main thread
    context_start_seq: int = 0
    summary_message_id: str | None = None
    pending_approval: dict[str, Any] | None = None
    # A conversation's own model, over the agent's (None: the agent's).
    model: str | None = None
    model_settings: dict[str, Any] | None = None
    context_window_limit: int | None = None

    @classmethod
    def main(cls, agent: Agent) -> "Thread":
        return cls(
            agent.id,
            None,
            agent.context_start_seq,
            agent.summary_message_id,
            agent.pending_approval,
        )

    @classmethod
    def of(cls, conversation: Conversation) -> "Thread":
        return cls(
            conversation.agent_id,
            conversation.id,
            conversation.context_start_seq,
            conversation.summary_message_id,
            conversation.pending_approval,
            conversation.model,
            conversation.model_settings,
            conversation.context_window_limit,
        )

    def runs(self, agent: Agent) -> Agent:
        """The agent as a step of this thread runs it: with the conversation's own model,
        model settings and context window where it has them. A copy outside any session
        (the stored agent is never changed); the agent itself when nothing differs."""
        if self.model is None and self.model_settings is None and not self.context_window_limit:
            return agent
        values = {attr.key: getattr(agent, attr.key) for attr in inspect(Agent).column_attrs}
        values["model"] = self.model or agent.model
        if self.model_settings is not None:
            values["model_settings"] = self.model_settings
            limit = self.model_settings.get("max_output_tokens")
            values["max_tokens"] = limit if isinstance(limit, int) else agent.max_tokens
        values["context_window_limit"] = self.context_window_limit or agent.context_window_limit
        return Agent(**values)

    @property
    def is_main(self) -> bool:
        return self.conversation_id is None

    def key(self, organization_id: str) -> str:
        """A key naming this thread across organizations (caches, turn gates)."""
        if self.conversation_id is None:
            return f"{organization_id}/{self.agent_id}"
        return f"{organization_id}/{self.agent_id}/{self.conversation_id}"


_CONVERSATIONS = table_of(Conversation)
_SETTABLE = frozenset(WINDOW_COLUMNS)
_THREAD = select(
    _CONVERSATIONS.c.agent_id,
    _CONVERSATIONS.c.id,
    *(_CONVERSATIONS.c[name] for name in WINDOW_COLUMNS),
    _CONVERSATIONS.c.model,
    _CONVERSATIONS.c.model_settings,
    _CONVERSATIONS.c.context_window_limit,
).where(
    _CONVERSATIONS.c.id == bindparam("b_conversation"),
    _CONVERSATIONS.c.organization_id == bindparam("b_org"),
    _CONVERSATIONS.c.is_deleted.is_(False),
)


class ThreadWindows(Repository):
    """Reads a conversation's window and writes its window columns. The main thread's are
    the agent's own columns: read with the agent, written with the agent's seq allocation
    (``MessageRepository.append``); they never come here. A conversation's turn records
    nothing else on its row: when it last ran is read from its runs."""

    async def conversation(self, conversation_id: str) -> Thread | None:
        """The conversation's thread (one indexed read), or None if there is no such
        conversation in this organization (or it was deleted)."""
        params = {"b_conversation": conversation_id, "b_org": self.organization_id}
        row = (await self.execute(_THREAD, params)).first()
        if row is None:
            return None
        return Thread(
            row.agent_id,
            row.id,
            row.context_start_seq,
            row.summary_message_id,
            row.pending_approval,
            row.model,
            row.model_settings,
            row.context_window_limit,
        )

    async def save(self, conversation_id: str, values: Mapping[str, Any]) -> None:
        unknown = set(values) - _SETTABLE
        if unknown:
            raise ValueError(f"not a thread column: {sorted(unknown)}")
        if not values:
            return
        statement = (
            update(_CONVERSATIONS)
            .where(
                _CONVERSATIONS.c.id == bindparam("b_conversation"),
                _CONVERSATIONS.c.organization_id == bindparam("b_org"),
            )
            .values(
                {
                    name: bindparam(f"v_{name}", type_=_CONVERSATIONS.c[name].type)
                    for name in sorted(values)
                }
            )
            .values(updated_at=bindparam("v_updated_at"))
        )
        params = {f"v_{name}": value for name, value in values.items()}
        params |= {
            "b_conversation": conversation_id,
            "b_org": self.organization_id,
            "v_updated_at": utcnow(),
        }
        await self.execute(statement, params)
