"""Completion callbacks: a ``messages/async`` run with a ``callback_url`` POSTs its outcome
there once, when it ends, in Letta's body ``{run_id, status, completed_at, metadata}``
(``metadata`` is the run's, with ``result``: the run's messages, stop reason and usage, and
``error`` for a failed run).

The POST runs on a task this object owns, so neither the run nor the dispatcher's slot
waits for the receiver; ``drain`` awaits the tasks at shutdown. Each POST has a timeout;
connection errors, timeouts, 429 and 5xx answers are retried a bounded number of times. The
run is marked sent in one atomic update before the first attempt, so however many processes
see it end, one sends it; the answer (status code, or what went wrong) lands on the run.
Unlike Letta, a run that ends cancelled calls back too: a receiver waiting for the outcome
learns it.
"""

import asyncio
from collections.abc import Iterable
from typing import Any

import httpx
import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from app.agents.repository import AgentRepository
from app.config import Settings
from app.kit.db import Database
from app.messages.convert import to_letta_many
from app.messages.repository import MessageRepository
from app.runs.models import Run
from app.runs.repository import RunRepository
from app.streaming.closing import usage_statistics

log = structlog.get_logger("app.turns.callbacks")


async def _body(session: AsyncSession, run: Run) -> dict[str, Any]:
    agent = await AgentRepository(session, run.organization_id).get(run.agent_id)
    stored = await MessageRepository(session, run.organization_id).for_run(run.id)
    types = (run.request_config or {}).get("include_return_message_types")
    result = {
        "messages": to_letta_many(
            stored, agent.agent_type if agent else "letta_v1_agent", set(types) if types else None
        ),
        "stop_reason": {"message_type": "stop_reason", "stop_reason": run.stop_reason},
        "usage": run.usage or usage_statistics(),
    }
    metadata = {**(run.metadata_ or {}), "result": result}
    if run.error:
        metadata["error"] = run.error
    return {
        "run_id": run.id,
        "status": run.status,
        "completed_at": run.completed_at.isoformat() if run.completed_at else None,
        "metadata": metadata,
    }


def _describe(exc: Exception) -> str:
    detail = str(exc)
    return f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__


class RunCallbacks:
    def __init__(self, db: Database, http: httpx.AsyncClient, settings: Settings) -> None:
        self.db = db
        self.http = http
        self.settings = settings
        self._tasks: set[asyncio.Task[None]] = set()

    def run_ended(self, run: Run) -> None:
        """The run ended (or may have) in this process: call back if it asked to be."""
        if run.callback_url:
            self._start(run.id, run.organization_id)

    def after_commit(
        self, session: AsyncSession, organization_id: str, run_ids: Iterable[str]
    ) -> None:
        """Call back for these runs once ``session`` commits (a cancel ends a queued run
        inside the request's transaction; before the commit nobody else can see it end)."""
        pending = list(run_ids)

        def committed(_session: Session) -> None:
            for run_id in pending:
                self._start(run_id, organization_id)

        event.listen(session.sync_session, "after_commit", committed, once=True)

    def _start(self, run_id: str, organization_id: str) -> None:
        task = asyncio.get_running_loop().create_task(
            self._send(run_id, organization_id), name=f"callback:{run_id}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        """Let callbacks in flight finish (at shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _send(self, run_id: str, organization_id: str) -> None:
        async with self.db.session() as session:
            run = await RunRepository(session, organization_id).claim_callback(run_id)
            if run is None or run.callback_url is None:
                return
            body = await _body(session, run)
        status_code, error = await self._post(run.callback_url, body)
        if error is not None:
            log.warning("runs.callback_failed", run_id=run_id, error=error)
        async with self.db.session() as session:
            await RunRepository(session, organization_id).record_callback(
                run_id, status_code=status_code, error=error
            )

    async def _post(self, url: str, body: dict[str, Any]) -> tuple[int | None, str | None]:
        """POST with bounded retries; the last status code and, unless it succeeded, why."""
        attempts = self.settings.callback_max_attempts
        status_code: int | None = None
        error = "not sent"
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                await asyncio.sleep(self.settings.callback_retry_base_seconds * 2 ** (attempt - 2))
            try:
                response = await self.http.post(
                    url, json=body, timeout=self.settings.callback_timeout_seconds
                )
            except (httpx.HTTPError, httpx.InvalidURL) as exc:
                status_code, error = None, _describe(exc)
                continue
            status_code = response.status_code
            if status_code < 400:
                return status_code, None
            error = f"the receiver answered HTTP {status_code}"
            if status_code != 429 and status_code < 500:
                break
        return status_code, f"{error} (after {attempt} attempt{'s' if attempt > 1 else ''})"
