"""The log lines of a run's lifecycle, each with the run's ``run_id``, ``agent_id`` and
``kind``: ``run.accepted``, ``run.claimed``, ``run.step``, ``run.finished``, ``run.reaped``,
``run.retried`` and ``run.cancelled``.

Per turn they stay cheap: a foreground turn that completes logs only DEBUG lines (dropped
before any formatting at the default INFO); its request's ``http.request`` line carries its
fields. Background runs, and turns that fail or are cancelled, log at INFO.
A run this process executes has its fields bound to the context of the task executing it, so
every other line logged meanwhile carries them too.
"""

from typing import Any

import structlog

from app.kit.observability import RUNS_REAPED
from app.runs.models import Run

log = structlog.get_logger("app.runs")


def _fields(run: Run) -> dict[str, Any]:
    return {"run_id": run.id, "agent_id": run.agent_id, "kind": run.kind}


def bind(run: Run) -> None:
    """Bind the run's fields to the current task's log context (and the tasks it starts)."""
    structlog.contextvars.bind_contextvars(**_fields(run))


def accepted(run: Run, *, queued: bool) -> None:
    if queued:
        log.info("run.accepted", **_fields(run), parent_run_id=run.parent_run_id)
    else:
        bind(run)  # executed by the task accepting it
        log.debug("run.accepted", **_fields(run))


def claimed(run: Run) -> None:
    bind(run)
    log.info("run.claimed", **_fields(run), attempt=run.attempts)


def step(run_id: str, step_id: str, tokens: int) -> None:
    log.debug("run.step", run_id=run_id, step_id=step_id, tokens=tokens)


def finished(run: Run, status: str, stop_reason: str, duration_ns: int) -> None:
    """INFO, but DEBUG for a foreground turn that completed: its request's ``http.request``
    line (which carries the run's bound fields) already says it."""
    duration_ms = round(duration_ns / 1e6, 1)
    fields = {"status": status, "stop_reason": stop_reason, "duration_ms": duration_ms}
    quiet = run.kind == "foreground" and status == "completed"
    (log.debug if quiet else log.info)("run.finished", **_fields(run), **fields)


def reaped(run: Run, previous_owner: str | None) -> None:
    """A run whose lease lapsed, now queued again (``outcome`` retried) or ended."""
    outcome = "retried" if run.status == "created" else run.status
    RUNS_REAPED.labels(run.kind, outcome).inc()
    log.warning(
        "run.reaped",
        **_fields(run),
        outcome=outcome,
        attempts=run.attempts,
        lease_owner=previous_owner,
    )


def retried(run: Run, reason: str) -> None:
    log.info("run.retried", **_fields(run), reason=reason)


def cancelled(run: Run, status: str, *, requested: bool) -> None:
    """``requested``: the run is running elsewhere, and stops at its next chance."""
    log.info("run.cancelled", **_fields(run), status=status, requested=requested)
