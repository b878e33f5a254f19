"""Start-up stays lean: what a server on SQLite never needs is not imported to build the app;
and a served app finishes its start-up before its first request, not during it."""

import asyncio
import gc
import sys
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, routing

from app.config import Settings
from app.main import create_app

CHECK = """
import sys
import app.cli, app.main
app.main.create_app()
loaded = sorted(m for m in ("alembic", "asyncpg") if m in sys.modules)
assert not loaded, f"imported at start-up: {loaded}"
"""


async def test_building_the_app_imports_neither_alembic_nor_asyncpg() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHECK, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await proc.communicate()
    assert proc.returncode == 0, stderr.decode()


async def _first_request(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the routes FastAPI analyses for ``app`` during its first request (after
    its start-up), which must succeed."""
    analysed: list[str] = []
    build = routing._EffectiveRouteContext.from_api_route

    def counted(**kwargs: Any) -> Any:
        analysed.append(kwargs["original_route"].path)
        return build(**kwargs)

    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
    ):
        if app.state.settle:
            await app.state.settled
        monkeypatch.setattr(routing._EffectiveRouteContext, "from_api_route", counted)
        response = await client.get("/v1/health/")
        assert response.status_code == 200
    return analysed


async def test_a_served_app_analyses_its_routes_and_sets_start_up_aside_before_serving(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    monkeypatch.setattr(gc, "collect", lambda *args: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))

    assert await _first_request(create_app(settings, settle=True), monkeypatch) == []
    assert calls == ["collect", "freeze"]


async def test_an_app_among_others_leaves_both_to_its_first_request(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The tests build many apps in one process: freezing would keep their garbage for good."""
    calls: list[str] = []
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))

    assert "/v1/health/" in await _first_request(create_app(settings), monkeypatch)
    assert calls == []
