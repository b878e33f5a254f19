"""Cross-process wake-ups on PostgreSQL: LISTEN on the runs channels with a dedicated asyncpg
connection, kept open across database restarts and outages.

A lost connection is noticed at once when the server closes it (asyncpg's termination
callback), or by a ping every poll period when the network drops it silently; it is then
reopened with backoff. Notifications sent while it was away are lost, so each new connection
wakes the dispatcher and every watcher to look again. Meanwhile the dispatcher's slow poll
still finds the work.
"""

import asyncio
from contextlib import suppress

import asyncpg
import structlog
from sqlalchemy.engine import make_url

from app.kit.dialect import CONNECT_TIMEOUT, DONE_CHANNEL, EVENTS_CHANNEL, NOTIFY_CHANNEL
from app.runs.control import RunControl
from app.worker.loops import Backoff, Loop, Vitals

log = structlog.get_logger("app.worker.listener")


class RunListener:
    def __init__(
        self,
        database_url: str,
        control: RunControl,
        vitals: Vitals,
        *,
        poll_seconds: float,
        retry_cap_seconds: float,
    ) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._control = control
        self._poll = poll_seconds
        self._connection: asyncpg.Connection | None = None
        self._connections = 0  # connections opened so far
        self._lost = asyncio.Event()  # the connection closed, or it is time to stop
        self._stop = asyncio.Event()
        self.loop = Loop(
            "listener",
            self._keep,
            self._pause,
            vitals,
            backoff=Backoff(0.1, retry_cap_seconds),
            timeout=CONNECT_TIMEOUT + poll_seconds,
        )

    async def run(self) -> None:
        """Listen until ``stop``; raises only on a bug (logged and recorded by the loop)."""
        try:
            await self.loop.run(self._stop)
        finally:
            await self._close()

    def stop(self) -> None:
        self._stop.set()
        self._lost.set()

    def _on_queued(self, *_args: object) -> None:
        self._control.wakeup.wake()

    def _on_done(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self._control.ended(payload)

    def _on_lost(self, _connection: object) -> None:
        self._lost.set()

    async def _keep(self) -> None:
        """Check the open connection, or open a new one and listen on it."""
        if self._connection is not None and not self._connection.is_closed():
            await self._ping(self._connection)
            return
        if self._connection is not None:
            log.warning("worker.listen_lost")
            self._connection = None
        connection = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT)
        try:
            connection.add_termination_listener(self._on_lost)
            await connection.add_listener(NOTIFY_CHANNEL, self._on_queued)
            await connection.add_listener(DONE_CHANNEL, self._on_done)
            await connection.add_listener(EVENTS_CHANNEL, self._on_done)
        except BaseException:
            connection.terminate()
            raise
        self._connection = connection
        self._lost.clear()
        self._connections += 1
        log.info("worker.listening", reconnected=self._connections > 1)
        self._control.wake_all()

    async def _ping(self, connection: asyncpg.Connection) -> None:
        """A query on the connection: one the network dropped silently is found and closed."""
        answered = False
        try:
            await connection.fetchval("SELECT 1")
            answered = True
        finally:
            if not answered:
                connection.terminate()

    async def _pause(self) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self._lost.wait(), self._poll)

    async def _close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is None or connection.is_closed():
            return
        try:
            await connection.close(timeout=CONNECT_TIMEOUT)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            connection.terminate()  # the server is away: nothing to say goodbye to
