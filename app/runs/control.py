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
        self._watchers: dict[str, set[asyncio.Event]] = {}

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

    def watch(self, run_id: str) -> asyncio.Event:
        """An event set when the run is reported ended (here, or by another process)."""
        event = asyncio.Event()
        self._watchers.setdefault(run_id, set()).add(event)
        return event

    def unwatch(self, run_id: str, event: asyncio.Event) -> None:
        watchers = self._watchers.get(run_id)
        if watchers is not None:
            watchers.discard(event)
            if not watchers:
                del self._watchers[run_id]

    def ended(self, run_id: str) -> None:
        """The run ended (or, from ``changed``, has news): wake whoever watches it."""
        for event in self._watchers.get(run_id, ()):
            event.set()

    changed = ended

    def wake_all(self) -> None:
        """Wake the dispatcher and every watcher: news may have been missed (the listener
        was reconnecting), so each looks again."""
        self.wakeup.wake()
        for events in self._watchers.values():
            for event in events:
                event.set()
