import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import __version__
from app.kit import dialect, migrate
from app.kit.db import Database
from app.kit.observability import REGISTRY
from app.worker.loops import Vitals

router = APIRouter(tags=["health"])

# How long /readyz waits for the database before calling it unreachable.
PROBE_SECONDS = 5.0


@router.get("/v1/health/")
async def health() -> dict[str, str]:
    return {"version": __version__, "status": "ok"}


@router.get("/livez")
async def livez(request: Request) -> JSONResponse:
    """Up, unless a background loop stopped on a bug: only a restart mends that."""
    vitals: Vitals = request.app.state.runtime.vitals
    if vitals.bug is not None:
        return JSONResponse({"status": "broken", "reason": vitals.bug}, status_code=503)
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers with its schema at this version's head and the
    background loops (dispatcher, heartbeat, listener) are running; otherwise 503, with
    every reason. Loops that are retrying after a fault are shown, and count as running."""
    vitals: Vitals = request.app.state.runtime.vitals
    body: dict[str, Any] = {"status": "ok"}
    reasons = await _database(request, body)
    body["executors"] = vitals.states()
    if vitals.bug is not None:
        reasons.append(vitals.bug)
    elif stopped := vitals.stopped():
        reasons.append(f"not running: {', '.join(stopped)}")
    if reasons:
        body.update(status="unavailable", reasons=reasons)
        return JSONResponse(body, status_code=503)
    return JSONResponse(body)


async def _database(request: Request, body: dict[str, Any]) -> list[str]:
    """Probe the database and its schema into ``body``; the reasons it is not ready."""
    db: Database = request.app.state.db
    head = request.app.state.schema_head
    try:
        async with asyncio.timeout(PROBE_SECONDS):
            async with db.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
            current = await migrate.current_revision(db.engine)
    except (SQLAlchemyError, OSError) as exc:
        body["database"] = dialect.describe_failure(exc)
        return [f"database unavailable: {body['database']}"]
    body["database"], body["schema"] = "ok", current
    if current != head:
        body["expected_schema"] = head
        return [f"schema {current} is not at this version's head {head}"]
    return []


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
