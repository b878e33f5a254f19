from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app import __version__
from app.health import probes
from app.runtime import Runtime

router = APIRouter(tags=["health"])


@router.get("/v1/health/")
async def health() -> dict[str, str]:
    return {"version": __version__, "status": "ok"}


@router.get("/livez")
async def livez(request: Request) -> JSONResponse:
    """Up, unless a background loop stopped on a bug: only a restart mends that."""
    rt: Runtime = request.app.state.runtime
    probe = probes.liveness(rt.vitals)
    return JSONResponse(probe.body, status_code=probe.status_code)


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Ready when the database answers with its schema at this version's head, the
    background loops (dispatcher, heartbeat, listener) are running, and no queued run has
    waited longer than a lease with no process executing it; otherwise 503, with every
    reason (``app.health.probes``)."""
    rt: Runtime = request.app.state.runtime
    head = request.app.state.schema_head
    probe = await probes.readiness(
        rt.db, rt.vitals, head=head, lease_seconds=rt.settings.lease_seconds
    )
    return JSONResponse(probe.body, status_code=probe.status_code)


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    rt: Runtime = request.app.state.runtime
    return await rt.scraper.response()
