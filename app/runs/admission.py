"""One active turn per agent, within this process.

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


class TurnGate:
    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def turn(self, key: str, *, wait: bool, wait_seconds: float) -> AsyncIterator[None]:
        """Hold the turn of ``key`` (an organization's agent) for the block's duration."""
        agent_id = key.rsplit("/", 1)[-1]
        lock = self._locks.setdefault(key, asyncio.Lock())
        self._users[key] = self._users.get(key, 0) + 1
        try:
            if not wait and lock.locked():
                raise AgentBusy(f"Agent {agent_id} is busy with another turn", agent_id=agent_id)
            try:
                await asyncio.wait_for(lock.acquire(), wait_seconds)
            except TimeoutError:
                raise AgentBusy(
                    f"Agent {agent_id} stayed busy with another turn for {wait_seconds:g}s",
                    agent_id=agent_id,
                ) from None
            try:
                yield
            finally:
                lock.release()
        finally:
            self._users[key] -= 1
            if self._users[key] == 0:
                del self._users[key]
                del self._locks[key]
