"""The dispatcher: claims queued runs and executes them, renews this process's leases, and
reaps the leases of processes that died. What each of these does to a run is the run
lifecycle's (``app.runs.lifecycle``), and so is the executor of each kind of run.

It runs inside ``sleeptime serve`` and alone in ``sleeptime worker``; with the dispatcher
switched off, ``serve`` still runs its heartbeat, which keeps the leases of its own turns.
Every task it starts is tracked and awaited; none is fire-and-forget. Its loops outlive
database faults (``app.worker.loops``).

An attempt holds its run only while its lease does: each one runs under a clock that
expires with the lease (the expiry this process wrote when it claimed or last renewed it).
When the heartbeat cannot renew the lease in time (the database is away), the clock abandons
the attempt as the lease lapses, before any other process reaps the run, so the attempt
writes nothing more; the run is reclaimed and tried again once the database is back.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress
from datetime import datetime

import structlog

from app.config import Settings
from app.kit import dialect
from app.kit.db import Database, utcnow
from app.runs import events, lifecycle
from app.runs.control import RunControl
from app.runs.models import Run
from app.runs.states import ENDED
from app.worker.loops import Backoff, Loop, LoopCrashedError, Vitals

log = structlog.get_logger("app.worker")

Work = Callable[[], Awaitable[None]]

BACKOFF_BASE_SECONDS = 0.1
# A loop's unit of work that takes longer than this (or than a lease) counts as a fault: a
# connection the network dropped without a word does not hold a loop forever.
WORK_TIMEOUT_SECONDS = 30.0


class Dispatcher:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        control: RunControl,
        services: object,
        *,
        on_reaped: Callable[[Run], None] | None = None,
        vitals: Vitals,
        dispatch: bool = True,
    ) -> None:
        self.db = db
        self.settings = settings
        self.control = control
        # Handed to each kind's executor factory (``app.runs.lifecycle.executor``).
        self.services = services
        # Told of every run the reaper settled for good (its completion callback, if any).
        self.on_reaped = on_reaped
        self.vitals = vitals
        self.dispatch = dispatch
        self._slots = asyncio.Semaphore(settings.worker_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._clocks: dict[str, asyncio.Timeout] = {}
        self._stopping = asyncio.Event()
        self._drained = asyncio.Event()  # stopping, and no run is in flight any more
        self.done = asyncio.Event()  # ``run`` has returned: nothing runs any more
        self._passes = 0  # claim passes started
        self._idle_pass = -1  # the last pass that found nothing to claim with nothing running
        self._finished = 0  # runs this dispatcher has finished executing
        self._changed = asyncio.Condition()
        self._idle = 0.0  # how long the claim loop waits before its next pass
        self._reset = not db.is_sqlite  # SQLite: the first reap settles a dead process's runs
        self._loops = self._make_loops()

    def _make_loops(self) -> list[tuple[Loop, asyncio.Event]]:
        """Each loop with the event that ends it: the heartbeat keeps the leases of the runs
        in flight until they have finished, the others stop at once."""
        lease = self.settings.lease_seconds
        period = lease / 3

        def loop(name: str, work: Work, pause: Work) -> Loop:
            # Retries come at least once a heartbeat period, so leases are renewed in time
            # once the database is back.
            backoff = Backoff(BACKOFF_BASE_SECONDS, period)
            timeout = max(lease, WORK_TIMEOUT_SECONDS)
            return Loop(name, work, pause, self.vitals, backoff=backoff, timeout=timeout)

        heartbeat = loop("heartbeat", self._renew, lambda: self._sleep(period, self._drained))
        if not self.dispatch:
            return [(heartbeat, self._drained)]
        reaper = self.settings.reaper_seconds
        return [
            (loop("claim", self._claim_pass, self._claim_pause), self._stopping),
            (heartbeat, self._drained),
            (
                loop("reaper", self._reap, lambda: self._sleep(reaper, self._stopping)),
                self._stopping,
            ),
        ]

    async def run(self) -> None:
        """Run until ``stop``, then finish the runs in flight. A loop stopped by a bug stops
        the others and abandons the runs in flight (their leases lapse; another process, or
        this one restarted, reclaims them)."""
        crashed = False
        try:
            async with asyncio.TaskGroup() as group:
                tasks = {
                    loop.name: group.create_task(loop.run(until), name=f"dispatcher:{loop.name}")
                    for loop, until in self._loops
                }
                group.create_task(self._drain(tasks.get("claim")), name="dispatcher:drain")
        except* LoopCrashedError:
            crashed = True  # the loop logged its bug, with the traceback
        if crashed:
            log.error("worker.dispatcher_stopped", reason=self.vitals.bug, runs=len(self._tasks))
            for task in self._tasks:
                task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self.done.set()

    async def _drain(self, claim: "asyncio.Task[None] | None") -> None:
        """Once stopping, wait for the claim loop and then for every run it started."""
        await self._stopping.wait()
        if claim is not None:
            await asyncio.wait({claim})
        while self._tasks:
            await asyncio.wait(set(self._tasks))
        self._drained.set()

    def stop(self) -> None:
        self._stopping.set()
        self.control.wakeup.wake()

    async def _sleep(self, seconds: float, until: asyncio.Event) -> None:
        """Wait ``seconds`` unless ``until`` is set first."""
        with suppress(TimeoutError):
            await asyncio.wait_for(until.wait(), seconds)

    async def settled(self) -> None:
        """Return once a claim pass that began after this call found no runnable run while
        none was executing: everything queued so far has finished (debounced runs not yet
        due aside). For tests and orderly shutdowns; it waits on events, never polls."""
        async with self._changed:
            target = self._passes + 1
            self.control.wakeup.wake()
            await self._changed.wait_for(lambda: self._idle_pass >= target)

    async def _claim_pass(self) -> None:
        self._passes += 1
        current, finished_before = self._passes, self._finished
        claimed_nothing = False
        while not self._stopping.is_set() and not self._slots.locked():
            run = await self._claim()
            if run is None:
                claimed_nothing = True
                break
            await self._slots.acquire()
            task = asyncio.create_task(self._execute(run), name=f"run:{run.id}")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        # Idle only if no run ended meanwhile: one that did may have freed an agent whose
        # next run this pass could not yet claim.
        if claimed_nothing and not self._tasks and self._finished == finished_before:
            async with self._changed:
                self._idle_pass = current
                self._changed.notify_all()
        self._idle = await self._idle_wait()

    async def _claim_pause(self) -> None:
        await self.control.wakeup.wait(self._idle)

    async def _idle_wait(self) -> float:
        """How long to sleep when idle: the poll period, or less when a debounced run is due."""
        wait = self.settings.poll_seconds if not self.db.is_sqlite else self.settings.reaper_seconds
        async with self.db.session(write=False) as session:
            due = await lifecycle.next_available_at(session)
        if due is not None:
            wait = min(wait, max((due - utcnow()).total_seconds(), 0.0))
        return wait

    async def _claim(self) -> Run | None:
        async with self.db.session() as session:
            return await lifecycle.claim(session, self.control.owner, self.settings.lease_seconds)

    @staticmethod
    def _lease_end(expires: datetime | None) -> float:
        """The loop time at which a lease expiring at ``expires`` (as written by this
        process's clock) runs out."""
        remaining = (expires - utcnow()).total_seconds() if expires is not None else 0.0
        return asyncio.get_running_loop().time() + remaining

    async def _execute(self, run: Run) -> None:
        self.control.register(run.id)
        events.claimed(run)  # and its fields bound to this task's log lines
        try:
            await self._attempt(run, asyncio.timeout_at(self._lease_end(run.lease_expires_at)))
        finally:
            self.control.unregister(run.id)
            self.control.ended(run.id)
            self._slots.release()
            current = asyncio.current_task()
            if current is not None:
                self._tasks.discard(current)
            self._finished += 1
            self.control.wakeup.wake()  # a slot is free, and the agent may have more queued

    async def _attempt(self, run: Run, clock: asyncio.Timeout) -> None:
        """One attempt at ``run``, under the clock of its lease. A failure other than the
        database's is a bug in the run's code: it is logged and the run released, so the
        reaper's rules apply (retried until max attempts)."""
        try:
            async with clock:
                self._clocks[run.id] = clock
                try:
                    await lifecycle.executor(run.kind, self.services)(run)
                finally:
                    del self._clocks[run.id]
        except Exception as exc:
            if clock.expired():
                log.warning("worker.lease_expired", kind=run.kind, outcome="abandoned")
                return
            if dialect.is_transient(exc):
                error = dialect.describe_failure(exc)
                log.warning("worker.run_interrupted", kind=run.kind, error=error, outcome="retry")
            else:
                error = f"the run's code failed: {type(exc).__name__}"
                log.exception("worker.run_crashed", kind=run.kind)
            await self._release(run, error)

    async def _release(self, run: Run, reason: str) -> None:
        """Expire our lease on ``run`` now and reap it, so it is retried without waiting for
        the lease to lapse; when the database cannot be reached, the lease lapses instead."""
        try:
            async with self.db.session() as session:
                if await lifecycle.retry(session, run.id, self.control.owner):
                    events.retried(run, reason)
            await self._reap_once()
        except Exception as exc:
            if not dialect.is_transient(exc):
                log.exception("worker.release_failed")
                return
            log.warning("worker.release_failed", error=dialect.describe_failure(exc))

    async def _renew(self) -> None:
        running = self.control.running
        if not running:
            return
        async with self.db.session() as session:
            expires, held = await lifecycle.renew(
                session, self.control.owner, self.settings.lease_seconds, running
            )
        lease_end = self._lease_end(expires)
        for run_id, cancel_requested in held:
            clock = self._clocks.get(run_id)
            if clock is not None and not clock.expired():
                clock.reschedule(lease_end)
            if cancel_requested:
                self.control.cancel(run_id)

    async def _reap(self) -> None:
        await self._reap_once()
        async with self.db.session() as session:
            await lifecycle.forget_streams(session, self.settings.stream_retention_seconds)

    async def _reap_once(self) -> None:
        """Settle expired leases (on SQLite, at first, every run a dead process left)."""
        alive = None if self._reset else self.control.owner
        async with self.db.session() as session:
            reaped = await lifecycle.reap(
                session, max_attempts=self.settings.max_attempts, alive=alive
            )
        self._reset = True
        if reaped:
            self._report(reaped)
            self.control.wakeup.wake()

    def _report(self, runs: Sequence[Run]) -> None:
        for run in runs:
            if run.status in ENDED:
                self.control.ended(run.id)
                if self.on_reaped is not None:
                    self.on_reaped(run)
