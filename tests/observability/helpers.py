"""Reading ``/metrics`` and moving runs in the database (instead of waiting for the clock)."""

from datetime import timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import event, update
from sqlalchemy.engine import Connection

from app.kit.db import Database, utcnow
from app.kit.ids import DEFAULT_ORG_ID, Prefix, new_id
from app.runs import lifecycle
from app.runs.models import Run

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(client: httpx.AsyncClient) -> Series:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return parse(response.text)


def parse(text: str) -> Series:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(series: Series, name: str, **labels: str) -> float:
    """A sample's value (0 when the series has not appeared yet)."""
    return series.get((name, frozenset(labels.items())), 0.0)


def moved(before: Series, after: Series, name: str, **labels: str) -> float:
    return value(after, name, **labels) - value(before, name, **labels)


async def backdate(db: Database, run_id: str, seconds: float) -> None:
    """Make a run look as if it was created (and last updated) ``seconds`` ago."""
    then = utcnow() - timedelta(seconds=seconds)
    async with db.session() as session:
        await session.execute(
            update(Run).where(Run.id == run_id).values(created_at=then, updated_at=then)
        )


async def insert_run(db: Database, agent_id: str, **values: Any) -> str:
    """A run row as another process would have left it."""
    now = utcnow()
    row: dict[str, Any] = {
        "id": new_id(Prefix.run),
        "organization_id": DEFAULT_ORG_ID,
        "agent_id": agent_id,
        "kind": "async",
        "status": "created",
        "background": True,
        "attempts": 0,
        "cancel_requested": False,
        "created_at": now,
        "updated_at": now,
        **values,
    }
    if "turn" not in values:  # a kind of the lifecycle's; a test may state the flags itself
        row.update(kind_rules(row["kind"]))
    async with db.session() as session:
        await session.execute(Run.__table__.insert().values(row))
    return str(row["id"])


def kind_rules(kind: str) -> dict[str, bool]:
    """The kind's policy as a run of it carries it (``lifecycle.opening``)."""
    rules = lifecycle.policy(kind)
    return {"turn": rules.turn, "joins": rules.joins}


def lapsed(seconds: float) -> dict[str, Any]:
    """A running run's fields, its lease held by a process gone ``seconds`` ago."""
    at = utcnow() - timedelta(seconds=seconds)
    return {
        "status": "running",
        "lease_owner": "gone:1:dead",
        "lease_expires_at": at,
        "attempts": 1,
        "started_at": at,
    }


class Statements:
    """The statements run on an engine while counting."""

    def __init__(self, db: Database) -> None:
        self.engine = db.engine.sync_engine
        self.seen: list[tuple[str, Any]] = []

    def _record(
        self, _conn: Connection, _cursor: Any, statement: str, params: Any, *_: Any
    ) -> None:
        if statement.upper().startswith("SELECT"):  # not BEGIN or COMMIT
            self.seen.append((statement, params))

    def __enter__(self) -> "Statements":
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)


async def assert_runs_read_by_partial_indexes(db: Database, statement: tuple[str, Any]) -> None:
    """SQLite reads the runs of ``statement`` through the partial indexes only."""
    sql, params = statement
    async with db.engine.connect() as connection:
        raw = await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params)
        plan = [str(row[-1]) for row in raw]
    reads = [step for step in plan if " runs" in step]
    assert reads and all(
        "USING INDEX ix_runs_queue" in s or "USING INDEX ix_runs_lease" in s for s in reads
    ), plan
    assert not any(step.strip() == "SCAN runs" for step in plan), plan
