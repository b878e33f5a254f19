"""Cross-process wake-ups on PostgreSQL: LISTEN on the runs channel with a dedicated asyncpg
connection. If it drops, the dispatcher's slow poll still finds the work; the listener
reconnects on the next cycle."""

import asyncpg
import structlog
from sqlalchemy.engine import make_url

from app.kit.dialect import NOTIFY_CHANNEL
from app.worker.control import Wakeup

log = structlog.get_logger("app.worker.listener")


class RunListener:
    def __init__(self, database_url: str, wakeup: Wakeup) -> None:
        url = make_url(database_url).set(drivername="postgresql")
        self._dsn = url.render_as_string(hide_password=False)
        self._wakeup = wakeup
        self._connection: asyncpg.Connection | None = None

    def _on_notify(self, *_args: object) -> None:
        self._wakeup.wake()

    async def ensure(self) -> None:
        """Connect and listen if not connected (called on every dispatcher cycle)."""
        if self._connection is not None and not self._connection.is_closed():
            return
        try:
            connection = await asyncpg.connect(self._dsn)
            await connection.add_listener(NOTIFY_CHANNEL, self._on_notify)
        except (OSError, asyncpg.PostgresError) as exc:
            log.warning("worker.listen_failed", error=str(exc))
            return
        self._connection = connection

    async def close(self) -> None:
        if self._connection is not None and not self._connection.is_closed():
            await self._connection.close()
        self._connection = None
