"""Two API processes and two workers on one PostgreSQL under load: every run executes once."""

import asyncio
from contextlib import ExitStack
from typing import Any

import httpx
import pytest

from tests.conftest import BACKEND, MODEL, DatabaseFactory
from tests.fakes.llm_server import FakeLLMServer
from tests.processes import Process
from tests.test_crash import _env

pytestmark = pytest.mark.skipif(
    BACKEND != "postgresql", reason="several processes on one database need PostgreSQL"
)


async def test_two_apis_two_workers(
    database_factory: DatabaseFactory, fake_llm: FakeLLMServer
) -> None:
    # Leases as in production: this test is about every run executing once across processes.
    # Reaping after a death is test_crash's, with short leases; here a heartbeat starved on a
    # loaded machine must not get a live turn reaped.
    env = _env(
        await database_factory.create(),
        fake_llm,
        SLEEPTIME_DISPATCHER="false",
        SLEEPTIME_LEASE_SECONDS="30",
    )
    with ExitStack() as stack:
        apis = []
        for _ in range(2):
            api, url = Process.serve(env)
            stack.callback(api.stop)
            apis.append(url)
        for _ in range(2):
            worker = Process.worker({**env, "SLEEPTIME_DISPATCHER": "true"})
            stack.callback(worker.stop)
        clients = [httpx.AsyncClient(base_url=url, timeout=60) for url in apis]
        try:
            agents = []
            for i in range(8):
                response = await clients[i % 2].post("/v1/agents/", json={
                    "model": MODEL, "enable_sleeptime": True,
                    "memory_blocks": [{"label": "human", "value": f"user {i}"}]})  # fmt: skip
                agents.append(response.json())

            async def work(i: int) -> None:
                client, agent = clients[i % 2], agents[i % len(agents)]
                if i % 3 == 0:
                    run = await client.post(f"/v1/agents/{agent['id']}/messages/async",
                                            json={"input": f"async {i}"})  # fmt: skip
                    assert run.status_code == 200, run.text
                    return
                reply = await client.post(
                    f"/v1/agents/{agent['id']}/messages", json={"input": f"turn {i}"}
                )
                assert reply.status_code == 200, reply.text
                assert reply.json()["stop_reason"]["stop_reason"] == "end_turn", reply.text

            await asyncio.gather(*(work(i) for i in range(60)))
            runs = await _all_ended(clients[0])
            assert {r["status"] for r in runs} == {"completed"}
            assert {r["attempts"] for r in runs} == {1}
            assert {r["kind"] for r in runs} == {"foreground", "async", "sleeptime"}
            # Each run called the model exactly once (echo replies end every turn in one step),
            # so no run was executed twice by the two workers.
            assert len(fake_llm.state.chat_requests) == len(runs)
        finally:
            for client in clients:
                await client.aclose()


async def _all_ended(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Every run, once none is active (a run's end may queue sleeptime runs: look again)."""
    for _ in range(20):
        runs: list[dict[str, Any]] = (await client.get("/v1/runs/", params={"limit": 1000})).json()
        active = [r["id"] for r in runs if r["status"] in ("created", "running")]
        if not active:
            return runs
        await asyncio.gather(
            *(client.get(f"/v1/runs/{rid}", params={"wait": 60}) for rid in active)
        )
    raise AssertionError("runs kept arriving")
