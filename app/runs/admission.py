"""One active turn per thread (an agent's main thread, or a conversation), within this process.

The database holds the rule across processes (a partial unique index on active turns); this
gate makes a second request in the same process wait its turn instead of failing on the
index. ``enqueue`` waits up to a timeout, ``reject`` refuses at once.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.kit.errors import Conflict


class AgentBusy(Conflict):
    code = "AGENT_BUSY"


class ConversationBusy(AgentBusy):
    """A conversation's thread is busy with another turn (Letta's words and code)."""

    code = "CONVERSATION_BUSY"

    def __init__(self, conversation_id: str) -> None:
        super().__init__(
            "Cannot send a new message: Another request is currently being processed for this "
            "conversation. Please wait for the current request to complete.",
            conversation_id=conversation_id,
        )


def busy(agent_id: str, conversation_id: str | None, detail: str = "") -> AgentBusy:
    """The error for a thread busy with another turn: the agent's main one, or a
    conversation."""
    if conversation_id is not None:
        return ConversationBusy(conversation_id)
    return AgentBusy(detail or f"Agent {agent_id} is busy with another turn", agent_id=agent_id)


class TurnGate:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def turn(self, key: str, *, wait: bool, wait_seconds: float) -> AsyncIterator[None]:
        """Hold the turn of ``key`` (an organization's agent, ``org/agent``, or one of its
        conversations, ``org/agent/conversation``) for the block's duration."""
        _, agent_id, *conversation = key.split("/")
        conversation_id = conversation[0] if conversation else None
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            if not wait and lock.locked():
                raise busy(agent_id, conversation_id)
            try:
                await asyncio.wait_for(lock.acquire(), wait_seconds)
            except TimeoutError:
                stayed = f"Agent {agent_id} stayed busy with another turn for {wait_seconds:g}s"
                raise busy(agent_id, conversation_id, stayed) from None
            try:
                yield
            finally:
                lock.release()
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key]
                del self._locks[key]
