"""Leases held only while they are renewed: an attempt whose lease lapsed is abandoned and the
run reclaimed, and an abandoned sleeptime attempt leaves nothing in its agent's history."""

import asyncio
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update
from sqlalchemy.exc import OperationalError

from app.kit.db import Database, utcnow
from app.runs import lifecycle
from app.runs.models import Run
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, history, ok
from tests.sleeptime.test_sleeptime_runs import AppMaker, _turn, _world
from tests.worker.faults import attempt, first_attempt_running, held, transcripts

LEASE = {"lease_seconds": 2.0, "reaper_seconds": 0.2}


async def _helper_history(client: httpx.AsyncClient, helper: str) -> list[dict[str, Any]]:
    """The sleeptime agent's history after the system message it starts with."""
    return await history(client, helper, limit=1000)


async def test_an_attempt_that_cannot_renew_its_lease_is_abandoned_and_retried(
    make_app: AppMaker, fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client, primary, helper = await _world(make_app, 1, **LEASE)
    with held() as hold:
        run_id = await first_attempt_running(client, primary["id"], fake_llm, hold)
        fake_llm.state.add(*attempt("Ana, says hi"))
        await _abandon_by_lapse(app, run_id, monkeypatch)
    run = await ok(client.get(f"/v1/runs/{run_id}", params={"wait": 30}))
    assert (run["status"], run["attempts"]) == ("completed", 2), run
    block = await ok(client.get(f"/v1/agents/{primary['id']}/core-memory/blocks/human"))
    assert block["value"] == "Ana, says hi"
    history = await _helper_history(client, helper)
    assert len(transcripts(history)) == 1  # the abandoned attempt's transcript is gone
    assert "PARTIAL" not in str(history)
    assert await ok(client.get(f"/v1/runs/{run_id}/messages")) == [
        m for m in history if m["run_id"] == run_id
    ]


async def test_a_superseded_attempt_leaves_nothing_in_the_history(
    make_app: AppMaker, fake_llm: FakeLLMServer, db: Database
) -> None:
    app, client, primary, helper = await _world(make_app, 1, **LEASE)
    with held() as hold:
        first = await first_attempt_running(client, primary["id"], fake_llm, hold)
        fake_llm.state.add(Reply(text="Hello again"), *attempt("Ana, twice"))
        [second] = (await _turn(client, primary["id"], "still Ana"))["usage"]["run_ids"]
        async with db.session() as session:  # the first attempt's process "died"
            await session.execute(
                update(Run)
                .where(Run.id == first)
                .values(lease_owner="gone:1:dead", lease_expires_at=utcnow())
            )
        superseded = await ok(client.get(f"/v1/runs/{first}", params={"wait": 30}))
        assert superseded["status"] == "failed" and superseded["error"]["type"] == "superseded"
        done = await ok(client.get(f"/v1/runs/{second}", params={"wait": 30}))
        assert done["status"] == "completed"
        await _settle(app)
    history = await _helper_history(client, helper)
    [transcript] = transcripts(history)
    assert "user: hi, I'm Ana" in transcript and "user: still Ana" in transcript
    assert "PARTIAL" not in str(history)
    assert {m["run_id"] for m in history} == {second}


async def test_only_the_runs_being_executed_are_renewed(make_app: AppMaker, db: Database) -> None:
    _app, client = await make_app(dispatcher=False)
    agent = await create_agent(client)
    queued = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": "x"}))
    async with db.session() as session:
        claimed = await lifecycle.claim(session, "elsewhere:1:abc", 30)
        assert claimed is not None and claimed.id == queued["id"]
    async with db.session() as session:
        _, held = await lifecycle.renew(session, "elsewhere:1:abc", 30, [])
        assert held == []  # claimed, but its answer was lost: not executed, left to lapse
        _, held = await lifecycle.renew(session, "elsewhere:1:abc", 30, [queued["id"]])
        assert held == [(queued["id"], False)]


async def _abandon_by_lapse(app: FastAPI, run_id: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail every lease renewal until the attempt at ``run_id`` has let go of the run."""
    renewing = lifecycle.renew

    async def unreachable(*_args: Any) -> Any:
        raise OperationalError("UPDATE runs", {}, Exception("connection refused"))

    ended = app.state.control.watch(run_id)
    monkeypatch.setattr(lifecycle, "renew", unreachable)
    await asyncio.wait_for(ended.wait(), 30)
    monkeypatch.setattr(lifecycle, "renew", renewing)


async def _settle(app: FastAPI) -> None:
    await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)
