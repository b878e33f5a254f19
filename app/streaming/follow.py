"""Following a run's stream from a cursor: the kept events after it, then the live ones, to
``[DONE]``. Works for any run on any replica: in this process from the hub, elsewhere from
``run_events`` woken by LISTEN/NOTIFY (PostgreSQL) or by this process's own signals."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress
from datetime import timedelta
from typing import NamedTuple

from app.kit.db import Database, utcnow
from app.kit.errors import Gone, NotFound
from app.runs.control import RunControl
from app.runs.models import Run
from app.runs.repository import RunRepository
from app.runs.states import ENDED, RunStatus, StopReason
from app.streaming.hub import DONE, Hub
from app.streaming.recorder import encode

PAGE = 500


class StreamExpired(Gone):
    code = "STREAM_EXPIRED"


class RunKey(NamedTuple):
    organization_id: str
    run_id: str


class Follower:
    def __init__(
        self,
        db: Database,
        hub: Hub,
        control: RunControl,
        *,
        idle_seconds: float,
        retention_seconds: float,
    ) -> None:
        self.db = db
        self.hub = hub
        self.control = control
        self.idle_seconds = idle_seconds
        self.retention = timedelta(seconds=retention_seconds)

    async def check(self, organization_id: str, run_id: str) -> Run:
        """The run to follow: 404 if it is not this organization's, 410 if its events have
        expired."""
        async with self.db.session(write=False) as session:
            runs = RunRepository(session, organization_id)
            run = await runs.get(run_id)
            if run is None:
                raise NotFound(f"Run {run_id} not found")
            kept = await runs.has_events(run_id)
        ended_long_ago = (
            run.completed_at is not None and run.completed_at < utcnow() - self.retention
        )
        if ended_long_ago and not kept:
            raise StreamExpired(
                f"the stream of run {run_id} is no longer kept (retention "
                f"{self.retention.total_seconds():g} s)"
            )
        return run

    async def events(
        self, organization_id: str, run_id: str, after: int
    ) -> AsyncIterator[tuple[int | None, str]]:
        """(seq, encoded payload) of the organization's run after ``after`` until ``[DONE]``;
        (None, "") when a whole idle period passed, so the caller can keep the connection
        alive."""
        cursor = after
        while True:
            batch, idle = await self._next(RunKey(organization_id, run_id), cursor)
            for seq, text in batch:
                yield seq, text
                cursor = seq if seq is not None else cursor
                if text == DONE:
                    return
            if idle:
                yield None, ""

    async def _next(self, run: RunKey, cursor: int) -> tuple[list[tuple[int | None, str]], bool]:
        live = self.hub.get(run.run_id)
        if live is not None:
            if not live.after(cursor):
                await live.wait_beyond(cursor, self.idle_seconds)
            batch: list[tuple[int | None, str]] = list(live.after(cursor))
            if not batch and live.done:
                return [(None, DONE)], False  # the cursor is past the end
            return batch, not batch
        kept: list[tuple[int | None, str]] = list(await self._kept(run, cursor))
        if kept:
            return kept, False
        closing = await self._closing_if_ended(run)
        if closing is not None:
            # The run may have ended since the read above, its last events committed with its
            # end: read again now that it has ended, and close the stream only if none came.
            kept = list(await self._kept(run, cursor))
            return kept or [(None, text) for text in closing], False
        return [], not await self._wait(run, cursor)

    async def _kept(self, run: RunKey, cursor: int) -> list[tuple[int, str]]:
        async with self.db.session(write=False) as session:
            runs = RunRepository(session, run.organization_id)
            return await runs.events_after(run.run_id, cursor, PAGE)

    async def _closing_if_ended(self, key: RunKey) -> list[str] | None:
        """An ended run whose stream was never closed (it ended before recording one, or
        its process died): close it from the run's own state."""
        run_id = key.run_id
        async with self.db.session(write=False) as session:
            run = await RunRepository(session, key.organization_id).get(run_id)
        if run is None or run.status not in ENDED:
            return None
        events = [
            encode(
                {"message_type": "stop_reason", "stop_reason": run.stop_reason or StopReason.error}
            )
        ]
        if run.status == RunStatus.failed:
            error = run.error or {}
            events.append(
                encode(
                    {
                        "message_type": "error_message",
                        "run_id": run_id,
                        "error_type": error.get("type", "stream_incomplete"),
                        "message": error.get(
                            "message", "the run ended without finishing its stream"
                        ),
                        "detail": None,
                    }
                )
            )
        events.append(DONE)
        return events

    async def _wait(self, run: RunKey, cursor: int) -> bool:
        """Wait for news of the run; False when the idle period passed without any."""
        news = self.control.watch(run.run_id)
        try:
            if await self._kept(run, cursor) or self.hub.get(run.run_id) is not None:
                return True
            with suppress(TimeoutError):
                await asyncio.wait_for(news.wait(), self.idle_seconds)
                return True
            return False
        finally:
            self.control.unwatch(run.run_id, news)
