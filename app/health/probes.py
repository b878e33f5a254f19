"""Liveness and readiness, as every process (API or worker) answers them.

Live unless a background loop stopped on a bug (only a restart mends that). Ready when the
database answers with its schema at this version's head and the background loops are
running; the API also checks that queued work is being executed: runs that have waited
longer than a lease with no process executing them make it not ready, with what to do.
"""

import asyncio
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.kit import dialect, migrate
from app.kit.db import Database, utcnow
from app.runs.lifecycle import QUEUED_KINDS
from app.runs.repository import RunQueue
from app.worker.loops import Vitals

# How long a probe waits for the database before calling it unreachable.
PROBE_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class Probe:
    status_code: int
    body: dict[str, Any]


def liveness(vitals: Vitals) -> Probe:
    if vitals.bug is not None:
        return Probe(503, {"status": "broken", "reason": vitals.bug})
    return Probe(200, {"status": "ok"})


async def readiness(
    db: Database, vitals: Vitals, *, head: str | None, lease_seconds: float | None
) -> Probe:
    """Every reason not to be ready, or ok. ``lease_seconds``: check the queue too (runs
    waiting longer than this with nothing executing them). Loops retrying after a fault are
    shown, and count as running."""
    body: dict[str, Any] = {"status": "ok"}
    reasons = await _database(db, head, body)
    body["executors"] = vitals.states()
    if vitals.bug is not None:
        reasons.append(vitals.bug)
    elif stopped := vitals.stopped():
        reasons.append(f"not running: {', '.join(stopped)}")
    if lease_seconds is not None and body["database"] == "ok":
        reasons += await _queue(db, lease_seconds, body)
    if reasons:
        body.update(status="unavailable", reasons=reasons)
        return Probe(503, body)
    return Probe(200, body)


async def _database(db: Database, head: str | None, body: dict[str, Any]) -> list[str]:
    """Probe the database and its schema into ``body``; the reasons it is not ready."""
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            async with db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            current = await migrate.current_revision(db.engine)
    except (SQLAlchemyError, OSError) as exc:  # OSError: timeouts too
        body["database"] = dialect.describe_failure(exc)
        return [f"database unavailable: {body['database']}"]
    body["database"], body["schema"] = "ok", current
    if head is not None and current != head:
        body["expected_schema"] = head
        return [f"schema {current} is not at this version's head {head}"]
    return []


async def _queue(db: Database, lease_seconds: float, body: dict[str, Any]) -> list[str]:
    """Probe the queue into ``body``: the reason it is not ready when runs wait with no
    process executing them."""
    now = utcnow()
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            async with db.session(write=False) as session:
                found = await RunQueue(session).stale(now, lease_seconds, QUEUED_KINDS)
    except (SQLAlchemyError, OSError) as exc:  # OSError: timeouts too
        body["queue"] = dialect.describe_failure(exc)
        return [f"queue unreadable: {body['queue']}"]
    since = found.oldest_waiting_since
    waited = round((now - since).total_seconds(), 1) if since is not None else 0.0
    body["queue"] = {
        "stuck_runs": found.stuck,
        "oldest_waiting_seconds": waited,
        "executing": found.executing,
    }
    if not found.stuck:
        return []
    lease = f"{lease_seconds:g}"
    return [
        f"{found.stuck} run(s) have waited longer than the lease ({lease} s) with no process "
        "executing them: start `sleeptime worker`, or run `sleeptime serve` with "
        "SLEEPTIME_DISPATCHER=true"
    ]
