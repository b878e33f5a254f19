"""Background loops that outlive database and network faults.

Each loop repeats a unit of work and a pause. A failure the database may recover from (see
``dialect.is_transient``: lost or refused connections, timeouts, a locked SQLite file) is
logged and retried after a bounded, jittered exponential backoff, for as long as it lasts. Any
other exception is a bug: it is logged with its traceback, recorded in the process's
``Vitals`` (``/readyz`` and ``/livez`` answer 503, ``sleeptime worker`` exits non-zero) and
raised as ``LoopCrashedError``, which stops the loop and its siblings.
"""

import asyncio
import random
from collections.abc import Awaitable, Callable
from contextlib import suppress

import structlog

from app.kit import dialect

log = structlog.get_logger("app.worker")

_jitter = random.SystemRandom()


class Backoff:
    """Delays that double from ``base`` up to ``cap``, each drawn from its upper half so that
    processes which failed together do not retry together."""

    def __init__(self, base: float, cap: float) -> None:
        self.base = base
        self.cap = max(cap, base)
        self.failures = 0

    def failed(self) -> float:
        self.failures += 1
        ceiling: float = min(self.cap, self.base * 2.0 ** min(self.failures - 1, 30))
        return ceiling / 2 + _jitter.uniform(0, ceiling / 2)

    def reset(self) -> int:
        """Forget the failures; returns how many there were."""
        failures, self.failures = self.failures, 0
        return failures


class Vitals:
    """What this process's loops report (for ``/readyz`` and ``/livez``), and the bug that
    stopped one of them, which is set once and never cleared: only a restart mends it."""

    def __init__(self) -> None:
        self.loops: dict[str, Loop] = {}
        self.bug: str | None = None
        self.broken = asyncio.Event()

    def states(self) -> dict[str, str]:
        return {name: loop.describe() for name, loop in self.loops.items()}

    def stopped(self) -> list[str]:
        """The loops that are not running (stopped by a bug, or by shutdown)."""
        return [name for name, loop in self.loops.items() if loop.state == "stopped"]

    def record_bug(self, loop: str, error: str) -> None:
        if self.bug is None:
            self.bug = f"{loop} stopped on a bug: {error}"
        self.broken.set()


Work = Callable[[], Awaitable[None]]


class LoopCrashedError(Exception):
    """A loop stopped on a bug (its cause), already logged with its traceback."""


class Loop:
    """``work`` then ``pause``, until ``stopping`` is set. ``work`` is bounded by
    ``timeout``: a database that stops answering is a fault like one that refuses."""

    def __init__(
        self,
        name: str,
        work: Work,
        pause: Work,
        vitals: Vitals,
        *,
        backoff: Backoff,
        timeout: float,
    ) -> None:
        self.name = name
        self.work = work
        self.pause = pause
        self.vitals = vitals
        self.backoff = backoff
        self.timeout = timeout
        self.state = "starting"
        self.error: str | None = None
        vitals.loops[name] = self

    def describe(self) -> str:
        return f"{self.state}: {self.error}" if self.error else self.state

    async def run(self, stopping: asyncio.Event) -> None:
        try:
            while not stopping.is_set():
                delay = await self._once()
                if delay is None:
                    await self.pause()
                else:
                    with suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), delay)
        finally:
            self.state = "stopped"

    async def _once(self) -> float | None:
        """One unit of work; the backoff delay when it failed and may be retried."""
        try:
            async with asyncio.timeout(self.timeout):
                await self.work()
        except Exception as exc:
            if not dialect.is_transient(exc):
                log.exception("worker.loop_crashed", loop=self.name)
                self.error = dialect.describe_failure(exc)
                self.vitals.record_bug(self.name, self.error)
                raise LoopCrashedError(self.name) from exc
            delay = self.backoff.failed()
            self.state, self.error = "retrying", dialect.describe_failure(exc)
            log.warning(
                "worker.loop_failed",
                loop=self.name,
                error=self.error,
                failures=self.backoff.failures,
                retry_in=round(delay, 3),
            )
            return delay
        if failures := self.backoff.reset():
            log.info("worker.loop_recovered", loop=self.name, failures=failures)
        self.state, self.error = "running", None
        return None
