"""Cross-process wake-ups on PostgreSQL: LISTEN on the runs channel with a dedicated asyncpg
connection. If it drops, the dispatcher's slow poll still finds the work; the listener
reconnects on the next cycle."""

import asyncpg
import structlog
from sqlalchemy.engine import make_url

from app.kit.dialect import DONE_CHANNEL, EVENTS_CHANNEL, NOTIFY_CHANNEL
from app.worker.control import RunControl

log = structlog.get_logger("app.worker.listener")


class RunListener:
    def __init__(self, database_url: str, control: RunControl) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._control = control
        self._connection: asyncpg.Connection | None = None

    def _on_queued(self, *_args: object) -> None:
        self._control.wakeup.wake()

    def _on_done(self, _connection: object, _pid: int, _channel: str, payload: str) -> None:
        self._control.ended(payload)

    async def ensure(self) -> None:
        """Connect and listen if not connected (called on every dispatcher cycle)."""
        if self._connection is not None and not self._connection.is_closed():
            return
        try:
            connection = await asyncpg.connect(self._dsn)
            await connection.add_listener(NOTIFY_CHANNEL, self._on_queued)
            await connection.add_listener(DONE_CHANNEL, self._on_done)
            await connection.add_listener(EVENTS_CHANNEL, self._on_done)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("worker.listen_failed", error=str(exc))
            return
        self._connection = connection

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()
        self._connection = None
