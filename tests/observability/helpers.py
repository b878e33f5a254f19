"""Reading ``/metrics`` and moving runs in the database (instead of waiting for the clock)."""

from datetime import timedelta
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from app.kit.db import Database, utcnow
from app.kit.ids import DEFAULT_ORG_ID, Prefix, new_id
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
    async with db.session() as session:
        await session.execute(Run.__table__.insert().values(row))
    return str(row["id"])


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
