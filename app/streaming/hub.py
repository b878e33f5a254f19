"""Live events of the runs executing in this process, for followers in this process.

A run's events are also written to ``run_events`` (see ``recorder``); followers elsewhere read
them from there. Here a follower gets each event the moment it is published, which is what
keeps token deltas within a couple of milliseconds of the model.
"""

import asyncio
from contextlib import suppress
from dataclasses import dataclass, field

DONE = "[DONE]"


@dataclass
class LiveRun:
    """The events of one run published so far, as (seq, encoded payload), in seq order."""

    events: list[tuple[int, str]] = field(default_factory=list)
    done: bool = False
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def publish(self, events: list[tuple[int, str]]) -> None:
        async with self.changed:
            self.events.extend(events)
            self.done = self.done or any(text == DONE for _, text in events)
            self.changed.notify_all()

    def after(self, seq: int) -> list[tuple[int, str]]:
        return [e for e in self.events if e[0] > seq]

    async def wait_beyond(self, seq: int, seconds: float) -> None:
        """Wait until an event after ``seq`` exists or the run is done (or time is up)."""
        async with self.changed:
            with suppress(TimeoutError):
                await asyncio.wait_for(
                    self.changed.wait_for(
                        lambda: self.done or bool(self.events and self.events[-1][0] > seq)
                    ),
                    seconds,
                )


class Hub:
    def __init__(self) -> None:
        self._runs: dict[str, LiveRun] = {}

    def open(self, run_id: str) -> LiveRun:
        return self._runs.setdefault(run_id, LiveRun())

    def get(self, run_id: str) -> LiveRun | None:
        return self._runs.get(run_id)

    def close(self, run_id: str) -> None:
        self._runs.pop(run_id, None)
