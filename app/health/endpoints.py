from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import __version__
from app.kit import migrate
from app.kit.db import Database
from app.kit.observability import REGISTRY

router = APIRouter(tags=["health"])


@router.get("/v1/health/")
async def health() -> dict[str, str]:
    return {"version": __version__, "status": "ok"}


@router.get("/livez")
async def livez() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers and its schema is at this version's head."""
    db: Database = request.app.state.db
    try:
        async with db.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        current = await migrate.current_revision(db.engine)
    except (SQLAlchemyError, OSError) as exc:
        return JSONResponse({"status": "unavailable", "database": str(exc)}, status_code=503)
    head = request.app.state.schema_head
    if current != head:
        body = {"status": "unavailable", "schema": current, "expected_schema": head}
        return JSONResponse(body, status_code=503)
    return JSONResponse({"status": "ok", "schema": current})


@router.get("/metrics")
async def metrics() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
