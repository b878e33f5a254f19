"""``/metrics``: the process's series, with those read from the database refreshed first.

The database series (runs by kind and status, the oldest queued wait, the worst sleeptime
lag) cost two index-backed statements, run at most once per ``refresh_seconds`` however
often and however many scrapers come: a scrape within that time gets the last values, and so
does one while the database cannot be read (the process's own series matter most then).
"""

import asyncio
import time

import structlog
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy.exc import SQLAlchemyError
from starlette.responses import Response

from app.groups.repository import sleeptime_lag
from app.kit import dialect
from app.kit.db import Database, utcnow
from app.kit.observability import REGISTRY, SNAPSHOT
from app.runs.lifecycle import QUEUED_KINDS, RunKind
from app.runs.repository import RunQueue
from app.runs.states import RunStatus

log = structlog.get_logger("app.health")

# A scrape waits this long for the database series; then it answers with the last ones.
READ_SECONDS = 5.0


class Scraper:
    def __init__(self, db: Database, *, refresh_seconds: float) -> None:
        self.db = db
        self.refresh_seconds = refresh_seconds
        self._lock = asyncio.Lock()
        self._at: float | None = None  # when the database series were last read

    async def refresh(self) -> None:
        """Read the database series unless they were read less than ``refresh_seconds``
        ago; the pool in use is read every time (it costs nothing)."""
        SNAPSHOT.values["sleeptime_db_pool_in_use"] = [((), float(self._pool_in_use()))]
        async with self._lock:
            if self._at is not None and time.monotonic() - self._at < self.refresh_seconds:
                return
            now = utcnow()
            try:
                async with asyncio.timeout(READ_SECONDS), self.db.session(write=False) as session:
                    active = await RunQueue(session).unended(now)
                    worst = await sleeptime_lag(session, limit=1)
            except (SQLAlchemyError, OSError) as exc:  # OSError: timeouts too
                # The process's own series are still worth a scrape; these keep their values.
                log.warning("metrics.database_unavailable", error=dialect.describe_failure(exc))
                return
            self._at = time.monotonic()
        since = active.oldest_waiting_since
        SNAPSHOT.values.update(
            {
                "sleeptime_runs": _runs(active.counts),
                "sleeptime_run_oldest_queued_seconds": [
                    ((), max((now - since).total_seconds(), 0.0) if since else 0.0)
                ],
                "sleeptime_sleeptime_lag_turns": [((), float(worst[0].turns if worst else 0))],
            }
        )

    def _pool_in_use(self) -> int:
        checkedout = getattr(self.db.engine.pool, "checkedout", None)
        return int(checkedout()) if callable(checkedout) else 0

    async def response(self) -> Response:
        """The exposition of every series, the database ones refreshed."""
        await self.refresh()
        return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


# Every series of ``sleeptime_runs`` is shown, at 0 when no run is in that state: a
# series that appears only when it is not 0 cannot be alerted on.
_RUN_STATES = [(kind.value, RunStatus.running.value) for kind in RunKind] + [
    (kind.value, RunStatus.created.value) for kind in QUEUED_KINDS
]


def _runs(counts: list[tuple[str, str, int]]) -> list[tuple[tuple[str, ...], float]]:
    found = {(kind, status): n for kind, status, n in counts}
    labels = _RUN_STATES + [key for key in found if key not in _RUN_STATES]
    return [(key, float(found.get(key, 0))) for key in labels]
