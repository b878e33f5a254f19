"""Every run's stream: its events numbered per run (``seq_id``) and kept in ``run_events``.

Whole messages are written inside the transaction that commits their step, and the closing
events (``stop_reason``, ``usage_statistics``, ``[DONE]``) inside the one that ends the run,
so keeping the stream costs no transaction of its own. Token deltas are buffered and written
in batches. After each write, PostgreSQL followers on other replicas are notified.
"""

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit.db import Database
from app.runs.repository import RunRepository
from app.streaming.hub import Hub, LiveRun

DELTA_BATCH = 64
Payload = dict[str, Any] | str


def encode(payload: Payload) -> str:
    return payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))


class RunRecorder:
    def __init__(self, hub: Hub, run_id: str, organization_id: str, *, next_seq: int = 1) -> None:
        self.live: LiveRun = hub.open(run_id)
        self.run_id = run_id
        self.organization_id = organization_id
        self._next = next_seq
        self._unsaved: list[tuple[int, str]] = []
        self._saving: list[tuple[int, str]] = []  # written in a transaction not yet committed
        self._unpublished: list[tuple[int, str]] = []

    @classmethod
    async def continuing(
        cls, session: AsyncSession, hub: Hub, run_id: str, organization_id: str
    ) -> "RunRecorder":
        """A recorder numbering after the events a run already has (a retried run)."""
        last = await RunRepository(session, organization_id).last_event_seq(run_id)
        return cls(hub, run_id, organization_id, next_seq=last + 1)

    def _number(self, payload: Payload) -> tuple[int, str]:
        seq = self._next
        self._next += 1
        if isinstance(payload, dict):
            payload = {**payload, "seq_id": seq, "run_id": payload.get("run_id") or self.run_id}
        event = (seq, encode(payload))
        self._unsaved.append(event)
        return event

    async def write(self, session: AsyncSession, payloads: list[Payload]) -> None:
        """Number ``payloads`` and write them, with any buffered deltas, in the caller's
        transaction; ``publish`` them once it has committed."""
        self._unpublished += [self._number(p) for p in payloads]
        await self._save(session)

    async def delta(self, db: Database | None, payload: dict[str, Any]) -> None:
        """A token delta (a fresh dict, numbered in place): published at once, written with
        the next batch, in a transaction of its own; with ``db`` None (the caller's
        transaction is open), with the caller's next write instead."""
        seq = self._next
        self._next += 1
        payload["seq_id"], payload["run_id"] = seq, self.run_id
        event = (seq, encode(payload))
        self._unsaved.append(event)
        await self.live.publish([event])
        if db is not None and len(self._unsaved) >= DELTA_BATCH:
            async with db.session() as session:
                await self._save(session)
            self._saving = []

    async def publish(self) -> None:
        """Hand the written events to live followers (after the writing commit)."""
        events, self._unpublished, self._saving = self._unpublished, [], []
        if events:
            await self.live.publish(events)

    def discard(self) -> None:
        """The transaction the last writes went into failed: forget the events nobody has
        seen (their numbers are given out again) and write the published deltas it held
        with the next write, so the kept stream stays the one followers saw."""
        unseen = {seq for seq, _ in self._unpublished}
        if unseen:
            self._next = min(unseen)
        self._unsaved = [e for e in self._saving + self._unsaved if e[0] not in unseen]
        self._saving, self._unpublished = [], []

    async def _save(self, session: AsyncSession) -> None:
        if not self._unsaved:
            return
        events = self._unsaved
        self._saving += events
        self._unsaved = []
        # (the insert also tells followers on other processes)
        await RunRepository(session, self.organization_id).insert_events(self.run_id, events)
