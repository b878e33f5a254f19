"""The run lifecycle: the kinds of run, what each kind's runs go through, and every transition.

A foreground turn is accepted ``running``, its lease held by the process answering the request.
A queued kind (``async``, ``sleeptime``) is accepted ``created``; a dispatcher claims it (now
``running``, under a lease it renews while it executes the run) and ends it. Runs end
``completed``, ``failed`` or ``cancelled`` (``app.runs.states``).

Any process reaps expired leases: queued kinds go back to ``created`` (until their attempts run
out, then ``failed``), a foreground turn becomes ``failed`` (its request is gone), and a run
whose cancel was requested becomes ``cancelled``. An attempt that lapsed was abandoned: its
kind's ``abandoned`` hook clears what it left. Ending a run is fenced on the lease owner: a
process that lost its lease cannot overwrite the run.

Each kind's policy is declared below, next to the enum, with the executor a dispatcher runs
its runs with ("module:attribute" of a factory that takes the process's services and returns
the executor, imported on first use): a new kind is declared here and nowhere else but in its
executor. The rules the database holds follow the policy, not a list of kinds: each run
carries its kind's ``turn`` and ``joins`` (written by ``opening``), which the partial unique
indexes test, and only queued kinds' runs ever wait (``created``). The statements are the runs
repository's (``RunRepository``, ``RunQueue``).
"""

import importlib
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import cache
from typing import Any, Final, cast

from sqlalchemy.ext.asyncio import AsyncSession

from app.kit import dialect
from app.kit.db import now_in, utcnow
from app.runs import events
from app.runs.models import Run
from app.runs.repository import RunQueue, RunRepository
from app.runs.states import RunStatus, StopReason, status_for

Executor = Callable[[Run], Awaitable[None]]
Abandoned = Callable[[AsyncSession, Run], Awaitable[None]]


class RunKind(StrEnum):
    foreground = "foreground"  # a turn executed while its request waits (or streams)
    async_ = "async"  # a turn accepted now and executed in the background (messages/async)
    sleeptime = "sleeptime"  # a sleeptime agent reading its primary's new messages


@dataclass(frozen=True, slots=True)
class KindPolicy:
    queued: bool  # claimed by a dispatcher; otherwise executed by the process accepting it
    turn: bool = False  # an agent's turn: one active turn of any turn kind per thread
    executor: str | None = None  # queued kinds: "module:attribute" of the executor factory
    abandoned: str | None = None  # "module:attribute": clears what an abandoned attempt left
    max_attempts: int | None = None  # None: the configured ``max_attempts``
    superseded: bool = False  # a lapsed run fails if a newer run of its agent is waiting
    # One waiting and one running run per agent of the kind: a new one joins the waiting one
    # (``accept_or_join``).
    joins: bool = False


POLICIES: Final[Mapping[RunKind, KindPolicy]] = {
    RunKind.foreground: KindPolicy(queued=False, turn=True),
    RunKind.async_: KindPolicy(
        queued=True, turn=True, executor="app.turns.service:queued_turn_executor"
    ),
    RunKind.sleeptime: KindPolicy(
        queued=True,
        executor="app.sleeptime.job:executor",
        abandoned="app.sleeptime.job:discard_attempt",
        superseded=True,
        joins=True,
    ),
}

QUEUED_KINDS: Final = tuple(k for k, p in POLICIES.items() if p.queued)
TURN_KINDS: Final = tuple(k for k, p in POLICIES.items() if p.turn)


class LeaseLostError(Exception):
    """Another process took this run over (our lease expired); our results must not land."""


def policy(kind: str) -> KindPolicy:
    return POLICIES[RunKind(kind)]


@cache
def _load(target: str) -> Any:
    module, _, attribute = target.partition(":")
    return getattr(importlib.import_module(module), attribute)


def executor(kind: str, services: object) -> Executor:
    """The executor of a queued kind's runs, built from its registry entry with ``services``
    (what the process's composition root hands every executor factory)."""
    target = policy(kind).executor
    if target is None:
        raise LookupError(f"runs of kind {kind!r} are not executed by a dispatcher")
    return cast(Executor, _load(target)(services))


def _abandoned(kind: str) -> Abandoned | None:
    target = policy(kind).abandoned
    return None if target is None else cast(Abandoned, _load(target))


# Accept


def opening(
    kind: str, *, now: datetime, owner: str | None = None, lease_seconds: float = 0.0
) -> dict[str, Any]:
    """The lifecycle fields of a new run of ``kind``: its policy's rules that the database
    holds (``turn``, ``joins``); a queued kind waits for a dispatcher; a foreground turn
    starts at once, its lease (of ``lease_seconds``) held by ``owner``."""
    rules = policy(kind)
    if rules.queued:
        return {
            "kind": kind,
            "turn": rules.turn,
            "joins": rules.joins,
            "status": RunStatus.created,
            "background": True,
            "attempts": 0,
            "cancel_requested": False,
        }
    if owner is None:
        raise ValueError(f"a run of kind {kind!r} starts held by its owner: name one")
    return {
        "kind": kind,
        "turn": rules.turn,
        "joins": rules.joins,
        "status": RunStatus.running,
        "background": False,
        "attempts": 1,
        "cancel_requested": False,
        "lease_owner": owner,
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
        "started_at": now,
    }


async def accept(session: AsyncSession, run: Run) -> None:
    """Insert a new run (its fields from ``opening``); queued runs are announced at commit."""
    await RunRepository(session, run.organization_id).add(run)
    queued = policy(run.kind).queued
    if queued:
        await dialect.notify_runs(session)
    events.accepted(run, queued=queued)


async def accept_or_join(
    session: AsyncSession, values: dict[str, Any], join: Callable[[Run], dict[str, Any]]
) -> Run:
    """Accept a run (``values``, with its lifecycle fields from ``opening``) of a kind that
    keeps one waiting run per agent; when one is already waiting, it takes ``join``'s changes
    instead (it now covers what the new run would have) and is returned. The caller
    announces the queued runs (``dialect.notify_runs``) once it has accepted them all."""
    if not policy(values["kind"]).joins:
        raise ValueError(f"runs of kind {values['kind']!r} do not join a waiting run")
    runs = RunRepository(session, values["organization_id"])
    waiting = None
    for _ in range(3):  # a dispatcher may claim the waiting run between our insert and select
        await runs.insert_unless_waiting(values)
        waiting = await runs.lock_waiting(values["agent_id"], values["kind"])
        if waiting is not None:
            break
    if waiting is None:
        raise LookupError(f"could not queue a {values['kind']} run for {values['agent_id']}")
    if waiting.id != values["id"]:
        await runs.save(waiting, join(waiting))
    else:
        events.accepted(waiting, queued=True)
    return waiting


async def active_turns(
    session: AsyncSession, organization_id: str, agent_id: str, conversation_id: str | None = None
) -> Sequence[Run]:
    """The turns not ended yet of one thread of the agent, its main one or a conversation
    (at most one, by the database's rule)."""
    return await RunRepository(session, organization_id).active(
        agent_id, TURN_KINDS, conversation_id
    )


# Claim, heartbeat


async def claim(session: AsyncSession, owner: str, lease: float) -> Run | None:
    """Take the oldest runnable queued run, skipping agents that are busy with another run.
    Its start and lease are timed once it is locked: never before it was created."""
    queue = RunQueue(session)
    candidate = await queue.lock_next(QUEUED_KINDS, await now_in(session))
    if candidate is None:
        return None
    now = utcnow()
    await queue.save(
        candidate,
        {
            "status": RunStatus.running,
            "lease_owner": owner,
            "lease_expires_at": now + timedelta(seconds=lease),
            "attempts": candidate.attempts + 1,
            "started_at": candidate.started_at or now,
            "updated_at": now,
        },
    )
    return candidate


async def next_available_at(session: AsyncSession) -> datetime | None:
    """When the earliest debounced run becomes runnable (for the dispatcher's wait)."""
    return await RunQueue(session).next_available_at(QUEUED_KINDS, utcnow())


async def renew(
    session: AsyncSession, owner: str, lease: float, run_ids: Collection[str]
) -> tuple[datetime, list[tuple[str, bool]]]:
    """Extend the leases of the runs this process is executing (a run it claimed but does
    not execute, because the claim's answer was lost, is left to lapse). Returns when the
    renewed leases expire, and (run id, cancel requested) for each lease still held."""
    expires = await now_in(session) + timedelta(seconds=lease)
    return expires, await RunQueue(session).renew(owner, run_ids, expires)


# Reap, retry


def _ended(
    status: RunStatus, stop_reason: StopReason, error: dict[str, Any] | None
) -> dict[str, Any]:
    now = utcnow()
    return {
        "status": status,
        "stop_reason": stop_reason,
        "error": error,
        "completed_at": now,
        "updated_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
    }


def _failed(error_type: str, message: str) -> dict[str, Any]:
    error = {"type": error_type, "message": message}
    return _ended(RunStatus.failed, StopReason.error, error)


async def reap(
    session: AsyncSession, *, max_attempts: int, alive: str | None = None
) -> Sequence[Run]:
    """Settle runs whose lease expired (or, with ``alive``, every running run another owner
    holds: SQLite's single process knows they are all dead), each kind's ``abandoned`` hook
    called for each in the same transaction. Returns the runs it changed."""
    queue = RunQueue(session)
    lapsed = await queue.lock_lapsed(now=utcnow(), alive=alive)
    for run in lapsed:
        if (clear := _abandoned(run.kind)) is not None:
            await clear(session, run)
        owner = run.lease_owner
        await queue.save(run, await _settlement(queue, run, max_attempts))
        if run.status != RunStatus.created:
            await dialect.notify_done(session, run.id)
        events.reaped(run, owner)
    return lapsed


async def _settlement(queue: RunQueue, run: Run, max_attempts: int) -> dict[str, Any]:
    """What becomes of a run whose attempt was abandoned."""
    rules = policy(run.kind)
    if run.cancel_requested:
        return _ended(RunStatus.cancelled, StopReason.cancelled, None)
    if not rules.queued:
        return _failed("process_died", "the process running this turn stopped")
    if run.attempts >= (rules.max_attempts or max_attempts):
        return _failed("max_attempts", f"gave up after {run.attempts} attempts")
    if rules.superseded and await queue.has_waiting(run.agent_id, run.kind):
        # A later run is already queued for this agent and covers what this one did.
        return _failed("superseded", "a queued run covers this one's messages")
    return {
        "status": RunStatus.created,
        "lease_owner": None,
        "lease_expires_at": None,
        "updated_at": utcnow(),
    }


async def retry(session: AsyncSession, run_id: str, owner: str) -> bool:
    """Give a run ``owner`` holds back to the reaper now, instead of when its lease lapses,
    so it is retried (or settled) at once; False if the lease is not ``owner``'s any more."""
    return await RunQueue(session).expire_lease(run_id, owner, utcnow())


async def forget_streams(session: AsyncSession, retention_seconds: float) -> None:
    """Drop stream events older than the retention (their runs answer 410 to a resume)."""
    await RunQueue(session).forget_events(utcnow() - timedelta(seconds=retention_seconds))


# Finish, cancel


async def finish(
    session: AsyncSession,
    run: Run,
    *,
    owner: str,
    stop_reason: str,
    duration_ns: int,
    ttft_ns: int | None = None,
    usage: dict[str, Any] | None = None,
    error: dict[str, Any] | None = None,
    metadata: dict[str, Any] | None = None,
) -> RunStatus:
    """End a running run held by ``owner`` with the status its stop reason calls for
    (and ``metadata``, when given, replacing the run's). Raises ``LeaseLostError`` when it
    is not ``owner``'s any more (reaped, taken over, or ended by a cancel)."""
    status = status_for(stop_reason)
    extra = {} if metadata is None else {"metadata_": metadata}
    ended = await RunRepository(session, run.organization_id).finish(
        run.id,
        owner=owner,
        status=status,
        stop_reason=stop_reason,
        completed_at=await now_in(session),
        total_duration_ns=duration_ns,
        ttft_ns=ttft_ns,
        usage=usage,
        error=error,
        **extra,
    )
    if not ended:
        raise LeaseLostError(f"run {run.id} is no longer ours to finish")
    events.finished(run, status, stop_reason, duration_ns)
    return status


def awaits_approval(run: Run) -> bool:
    """A turn that ended paused on a tool call awaiting a decision (its agent is held)."""
    return run.status == RunStatus.completed and run.stop_reason == StopReason.requires_approval


async def cancel(session: AsyncSession, run: Run) -> RunStatus:
    """Cancel ``run`` (locked by the caller, who has already released what a paused turn
    held); returns the status it now has or will have. Idempotent: an ended run stays."""
    now = utcnow()
    runs = RunRepository(session, run.organization_id)
    cancelled = {"status": RunStatus.cancelled, "stop_reason": StopReason.cancelled}
    if run.status == RunStatus.created:
        await runs.save(run, cancelled | {"completed_at": now, "updated_at": now})
        await dialect.notify_done(session, run.id)
        events.cancelled(run, RunStatus.created, requested=False)
        return RunStatus.cancelled
    if run.status == RunStatus.running:
        # The process executing it stops at its next chance; a dead owner's run is reaped.
        await runs.save(run, {"cancel_requested": True, "updated_at": now})
        events.cancelled(run, RunStatus.running, requested=True)
        return RunStatus.cancelled
    if awaits_approval(run):
        await runs.save(run, cancelled | {"updated_at": now})
        events.cancelled(run, StopReason.requires_approval, requested=False)
        return RunStatus.cancelled
    return RunStatus(run.status)
