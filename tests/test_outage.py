"""The database goes away for a while and comes back: requests answer 503, /readyz says why,
the background loops back off and recover, and every run ends without a restart.

In-process on both databases (every connection of the app refused, as a fault injected at
the driver), and on PostgreSQL with real processes: every backend of the test database is
terminated and new connections refused until the leases of the runs in flight have lapsed.
"""

import asyncio
import logging
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import BACKEND, DatabaseFactory, _admin_execute
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok
from tests.sleeptime.test_sleeptime_runs import AppMaker, _world
from tests.test_crash import _env, _primary, cluster
from tests.worker.faults import ConnectionFault, first_attempt_running, held, transcripts, until

OUTAGE_SETTINGS = {
    "lease_seconds": 2.0,
    "reaper_seconds": 0.2,
    "poll_seconds": 0.2,
    "worker_concurrency": 1,
}
LOOPS = ("claim", "heartbeat", "reaper")
_TERMINATE = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE datname = '{name}' AND pid <> pg_backend_pid()"
)


def _unavailable(response: httpx.Response) -> None:
    """A request the database failed: 503, Retry-After, Letta's body, the request id."""
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "2"
    assert response.headers["x-request-id"]
    assert response.json() == {"detail": "The database is unavailable; try again shortly."}


def _retrying(response: httpx.Response) -> bool:
    executors = response.json().get("executors", {})
    return response.status_code == 503 and all(
        executors.get(name, "").startswith("retrying") for name in LOOPS
    )


async def test_background_runs_outlive_a_database_outage(
    make_app: AppMaker, fake_llm: FakeLLMServer, caplog: pytest.LogCaptureFixture
) -> None:
    app, client, primary, helper = await _world(make_app, 1, **OUTAGE_SETTINGS)
    logging.getLogger().addHandler(caplog.handler)  # the app replaced the root's handlers
    caplog.set_level(logging.INFO, logger="app.worker")
    other = await create_agent(client)
    fault = ConnectionFault(app.state.db.engine)
    try:
        with held() as hold:
            sleeptime = await first_attempt_running(client, primary["id"], fake_llm, hold)
            queued = await ok(  # waits for the only slot, taken by the sleeptime run
                client.post(f"/v1/agents/{other['id']}/messages/async", json={"input": "q"})
            )
            let_go = app.state.control.watch(sleeptime)
            with fault:
                _unavailable(await client.get("/v1/agents/"))
                _unavailable(
                    await client.post(
                        f"/v1/agents/{other['id']}/messages/async", json={"input": "lost"}
                    )
                )
                ready = (await until(client, "/readyz", _retrying)).json()
                assert ready["status"] == "unavailable"
                assert ready["reasons"][0].startswith("database unavailable: ")
                hold.set()  # the attempt's next write fails, or its lease lapses first
                await asyncio.wait_for(let_go.wait(), 30)
        assert fault.refused > 0
        ready = (await until(client, "/readyz", lambda r: r.status_code == 200)).json()
        assert ready["database"] == "ok"
    finally:
        fault.remove()
    later = await ok(client.post(f"/v1/agents/{other['id']}/messages/async", json={"input": "z"}))
    runs = await _all_completed(client, [sleeptime, queued["id"], later["id"]])
    assert [r["attempts"] for r in runs] == [2, 1, 1]
    assert [m["content"] for m in await _messages(client, other["id"], "user_message")] == [
        "q",
        "z",
    ]
    history = await _messages(client, helper)
    assert len(transcripts(history)) == 1 and "PARTIAL" not in str(history)
    failed = {r.msg["loop"] for r in caplog.records if _event(r) == "worker.loop_failed"}
    recovered = {r.msg["loop"] for r in caplog.records if _event(r) == "worker.loop_recovered"}
    assert failed >= set(LOOPS) and recovered >= set(LOOPS)


def _event(record: logging.LogRecord) -> str | None:
    return record.msg.get("event") if isinstance(record.msg, dict) else None


async def _messages(
    client: httpx.AsyncClient, agent_id: str, kind: str | None = None
) -> list[dict[str, Any]]:
    history = await ok(client.get(f"/v1/agents/{agent_id}/messages", params={"limit": 1000}))
    return [m for m in history if kind is None or m["message_type"] == kind]


async def _all_completed(client: httpx.AsyncClient, run_ids: list[str]) -> list[dict[str, Any]]:
    """The runs, once each has completed; and no run at all is left active."""
    runs = [await ok(client.get(f"/v1/runs/{run_id}", params={"wait": 30})) for run_id in run_ids]
    assert {r["status"] for r in runs} == {"completed"}, runs
    assert await ok(client.get("/v1/runs/", params={"active": "true"})) == []
    return runs


@pytest.mark.skipif(BACKEND != "postgresql", reason="a database server to take away")
async def test_a_postgresql_outage_under_real_processes(
    database_factory: DatabaseFactory, fake_llm: FakeLLMServer
) -> None:
    url = await database_factory.create()
    name = make_url(url).database
    env = _env(url, fake_llm, SLEEPTIME_WORKER_CONCURRENCY="2")
    with held() as hold, cluster(env) as (_stack, _api, base, worker):
        assert worker is not None
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            agent = await _primary(client)
            others = [await create_agent(client, name=f"other-{i}") for i in range(2)]
            sleeptime = await first_attempt_running(client, agent["id"], fake_llm, hold)
            fake_llm.state.add(Reply(text="held", hold=hold))
            queued = [await _queue(client, other) for other in others]  # one runs, one waits
            await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 4)
            await _admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
            try:
                await _admin_execute(_TERMINATE.format(name=name))
                _unavailable(await client.get("/v1/agents/"))
                await until(client, "/readyz", lambda r: r.status_code == 503)
                for loop in ("claim", "heartbeat", "reaper", "listener"):
                    await asyncio.to_thread(worker.wait_for, "worker.loop_failed", f"loop={loop}")
                # Both attempts in flight, waiting on the model, let go as their leases lapse.
                await asyncio.to_thread(worker.wait_for, "worker.lease_expired", count=2)
            finally:
                await _admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            await until(client, "/readyz", lambda r: r.status_code == 200)
            await asyncio.to_thread(worker.wait_for, "worker.listening", "reconnected=True")
            later = await _queue(client, others[0])
            ids = [sleeptime, *(r["id"] for r in queued), later["id"]]
            runs = await _all_completed(client, ids)
            assert [r["attempts"] for r in runs] == [2, 2, 1, 1]
            history = await _messages(client, agent["managed_group"]["agent_ids"][0])
            assert len(transcripts(history)) == 1 and "PARTIAL" not in str(history)
        assert worker.logged("worker.loop_crashed") == 0
        assert worker.process.poll() is None  # the outage stopped nothing


async def _queue(client: httpx.AsyncClient, agent: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(
        f"/v1/agents/{agent['id']}/messages/async", json={"input": "queued"}
    )
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]
