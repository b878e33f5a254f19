"""Resuming a run's stream on another API process, live, and retention expiry."""

import asyncio
import threading
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from app.kit.db import Database, utcnow
from app.runs import lifecycle
from app.runs.models import Run, RunEvent
from tests.conftest import BACKEND, MODEL, DatabaseFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.processes import Process, server_env
from tests.streaming.test_sse import kinds, sse


def _env(url: str, fake_llm: FakeLLMServer, **extra: str) -> dict[str, str]:
    return server_env(url, fake_llm.base_url, **{"SLEEPTIME_LOG_LEVEL": "INFO", **extra})


@pytest.mark.skipif(BACKEND != "postgresql", reason="two API processes need PostgreSQL")
async def test_resume_live_on_another_replica(
    database_factory: DatabaseFactory, fake_llm: FakeLLMServer
) -> None:
    env = _env(await database_factory.create(), fake_llm)
    one, url_one = Process.serve(env)
    two, url_two = Process.serve(env)
    try:
        async with (
            httpx.AsyncClient(base_url=url_one, timeout=30) as a,
            httpx.AsyncClient(base_url=url_two, timeout=30) as b,
        ):
            agent_id = (await a.post("/v1/agents/", json={"model": MODEL})).json()["id"]
            hold = threading.Event()
            fake_llm.state.add(
                Reply(tool_calls=[("conversation_search", {})]), Reply(text="done", hold=hold)
            )
            turn = asyncio.create_task(
                a.post(f"/v1/agents/{agent_id}/messages", json={"input": "go"})
            )
            await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 2)
            [run] = (await b.get("/v1/runs/", params={"agent_id": agent_id})).json()

            async def follow() -> list:
                async with b.stream(
                    "GET",
                    f"/v1/runs/{run['id']}/stream",
                    params={"starting_after": 1, "include_pings": False},
                ) as r:
                    return await sse(r)

            watching = asyncio.create_task(follow())
            hold.set()
            events = await watching
            await turn
            assert kinds(events) == [
                "tool_return_message",
                "assistant_message",
                "stop_reason",
                "usage_statistics",
                "[DONE]",
            ]
    finally:
        one.stop()
        two.stop()


async def test_stream_expires_after_retention(
    make_app: Any, fake_llm: FakeLLMServer, db: Database
) -> None:
    _app, client = await make_app(stream_retention_seconds=60)
    agent_id = (await client.post("/v1/agents/", json={"model": MODEL})).json()["id"]
    response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": "hi"})
    assert response.status_code == 200, response.text
    run_id = response.json()["messages"][0]["run_id"]
    kept = await client.get(f"/v1/runs/{run_id}/stream", params={"include_pings": False})
    assert kept.status_code == 200 and kept.text.strip().endswith("data: [DONE]")
    async with db.session() as session:  # two minutes later, a reaper pass forgets the events
        later = utcnow() - timedelta(minutes=2)
        await session.execute(
            update(RunEvent).where(RunEvent.run_id == run_id).values(created_at=later)
        )
        await session.execute(update(Run).where(Run.id == run_id).values(completed_at=later))
        await lifecycle.forget_streams(session, 60)
    expired = await client.get(f"/v1/runs/{run_id}/stream")
    assert expired.status_code == 410
    assert expired.json()["detail"]["code"] == "STREAM_EXPIRED"
