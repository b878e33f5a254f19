"""The dispatcher: claims queued runs and executes them, renews this process's leases, and
reaps the leases of processes that died.

It runs inside ``sleeptime serve`` (unless disabled) and alone in ``sleeptime worker``. Every
task it starts is tracked and awaited; none is fire-and-forget.
"""

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import suppress

import structlog

from app.config import Settings
from app.kit.db import Database, utcnow
from app.runs.models import Run
from app.worker import queue
from app.worker.control import RunControl

log = structlog.get_logger("app.worker")

Executor = Callable[[Run], Awaitable[None]]


class Dispatcher:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        control: RunControl,
        executors: dict[str, Executor],
        *,
        on_reaped: Callable[[Run], None] | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.control = control
        self.executors = executors
        # Told of every run the reaper settled for good (its completion callback, if any).
        self.on_reaped = on_reaped
        self._slots = asyncio.Semaphore(settings.worker_concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = asyncio.Event()
        self._passes = 0  # claim passes started
        self._idle_pass = -1  # the last pass that found nothing to claim with nothing running
        self._finished = 0  # runs this dispatcher has finished executing
        self._changed = asyncio.Condition()

    async def run(self) -> None:
        """Run until ``stop``; then wait for the runs in flight."""
        if self.db.is_sqlite:
            async with self.db.session() as session:
                dead = await queue.reap(
                    session, max_attempts=self.settings.max_attempts, everything=True
                )
            self._report(dead)
            if dead:
                log.info("worker.reset_dead_runs", count=len(dead))
        loops = [self._claim_loop(), self._heartbeat_loop(), self._reaper_loop()]
        async with asyncio.TaskGroup() as group:
            for loop in loops:
                group.create_task(loop)

    def stop(self) -> None:
        self._stopping.set()
        self.control.wakeup.wake()

    async def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds`` unless stopping; True when it is time to stop."""
        with suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return self._stopping.is_set()

    async def settled(self) -> None:
        """Return once a claim pass that began after this call found no runnable run while
        none was executing: everything queued so far has finished (debounced runs not yet
        due aside). For tests and orderly shutdowns; it waits on events, never polls."""
        async with self._changed:
            target = self._passes + 1
            self.control.wakeup.wake()
            await self._changed.wait_for(lambda: self._idle_pass >= target)

    async def _claim_loop(self) -> None:
        while not self._stopping.is_set():
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
            await self.control.wakeup.wait(await self._idle_wait())
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _idle_wait(self) -> float:
        """How long to sleep when idle: the poll period, or less when a debounced run is due."""
        wait = self.settings.poll_seconds if not self.db.is_sqlite else self.settings.reaper_seconds
        async with self.db.session(write=False) as session:
            due = await queue.next_available_at(session)
        if due is not None:
            wait = min(wait, max((due - utcnow()).total_seconds(), 0.0))
        return wait

    async def _claim(self) -> Run | None:
        async with self.db.session() as session:
            return await queue.claim(session, self.control.owner, self.settings.lease_seconds)

    async def _execute(self, run: Run) -> None:
        self.control.register(run.id)
        structlog.contextvars.bind_contextvars(run_id=run.id, agent_id=run.agent_id)
        try:
            await self.executors[run.kind](run)
        except Exception:
            # The run's own code failed unexpectedly: say so and let the reaper's rules apply
            # (retry until max attempts) by expiring this process's lease on it now.
            log.exception("worker.run_crashed", kind=run.kind)
            await self._release(run)
        finally:
            self.control.unregister(run.id)
            self.control.ended(run.id)
            self._slots.release()
            current = asyncio.current_task()
            if current is not None:
                self._tasks.discard(current)
            self._finished += 1
            self.control.wakeup.wake()  # a slot is free, and the agent may have more queued

    async def _release(self, run: Run) -> None:
        async with self.db.session() as session:
            fresh = await session.get(Run, run.id, with_for_update=True)
            if (
                fresh is not None
                and fresh.status == "running"
                and fresh.lease_owner == self.control.owner
            ):
                fresh.lease_expires_at = utcnow()
        async with self.db.session() as session:
            reaped = await queue.reap(session, max_attempts=self.settings.max_attempts)
        self._report(reaped)
        self.control.wakeup.wake()

    async def _heartbeat_loop(self) -> None:
        period = self.settings.lease_seconds / 3
        while not await self._sleep(period):
            async with self.db.session() as session:
                held = await queue.renew(session, self.control.owner, self.settings.lease_seconds)
            for run_id, cancel_requested in held:
                if cancel_requested:
                    self.control.cancel(run_id)

    async def _reaper_loop(self) -> None:
        while not await self._sleep(self.settings.reaper_seconds):
            async with self.db.session() as session:
                reaped = await queue.reap(session, max_attempts=self.settings.max_attempts)
                await queue.forget_streams(session, self.settings.stream_retention_seconds)
            if reaped:
                log.info("worker.reaped", runs=[(r.id, r.status) for r in reaped])
                self._report(reaped)
                self.control.wakeup.wake()

    def _report(self, runs: Sequence[Run]) -> None:
        for run in runs:
            if run.status in ("completed", "failed", "cancelled"):
                self.control.ended(run.id)
                if self.on_reaped is not None:
                    self.on_reaped(run)
