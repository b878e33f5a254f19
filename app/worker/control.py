"""What this process knows about the runs it executes: its lease-owner id, a cancel signal per
run, and the dispatcher's wake-up."""

import asyncio
import os
import socket
import uuid
from contextlib import suppress


def new_owner_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Wakeup:
    """Wakes the dispatcher when runs were queued (set after the queuing commit)."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def wait(self, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        self._event.clear()


class RunControl:
    def __init__(self, owner: str | None = None) -> None:
        self.owner = owner or new_owner_id()
        self.wakeup = Wakeup()
        self._cancels: dict[str, asyncio.Event] = {}

    def register(self, run_id: str) -> asyncio.Event:
        return self._cancels.setdefault(run_id, asyncio.Event())

    def unregister(self, run_id: str) -> None:
        self._cancels.pop(run_id, None)

    def cancel(self, run_id: str) -> bool:
        """Signal a run executing in this process; False if it is not running here."""
        event = self._cancels.get(run_id)
        if event is None:
            return False
        event.set()
        return True

    @property
    def running(self) -> list[str]:
        return list(self._cancels)
