"""Cancel in every state: idempotent, and always ending terminal."""

import asyncio
import threading
from typing import Any

import httpx

from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok
from tests.sleeptime.test_sleeptime_runs import _settle, _turn, _world

AppMaker = Any
WEATHER = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}


async def test_cancel_a_waiting_sleeptime_run(make_app: AppMaker, fake_llm: FakeLLMServer) -> None:
    app, client, primary, _ = await _world(make_app, 1)
    group_id = primary["managed_group"]["id"]
    await ok(
        client.patch(
            f"/v1/groups/{group_id}",
            json={
                "manager_config": {"manager_type": "sleeptime", "sleeptime_debounce_seconds": 3600}
            },
        )
    )
    [run_id] = (await _turn(client, primary["id"], "hi"))["usage"]["run_ids"]
    assert (await ok(client.get(f"/v1/runs/{run_id}")))["status"] == "created"
    assert await ok(client.post(f"/v1/runs/{run_id}/cancel")) == {run_id: "cancelled"}
    assert await ok(client.post(f"/v1/runs/{run_id}/cancel")) == {run_id: "cancelled"}
    run = await ok(client.get(f"/v1/runs/{run_id}"))
    assert (run["status"], run["stop_reason"]) == ("cancelled", "cancelled")
    await _settle(app)
    assert (await ok(client.get(f"/v1/runs/{run_id}")))["status"] == "cancelled"


async def test_cancel_a_running_foreground_turn(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    hold = threading.Event()
    fake_llm.state.add(Reply(text="never seen", hold=hold))
    turn = asyncio.create_task(
        client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "slow"})
    )
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 1)
    [run] = await ok(client.get("/v1/runs/", params={"active": "true"}))
    cancelled = await ok(client.post(f"/v1/agents/{agent['id']}/messages/cancel", json={}))
    assert cancelled == {run["id"]: "cancelled"}
    response = (await turn).json()
    hold.set()
    assert response["stop_reason"]["stop_reason"] == "cancelled"
    done = await ok(client.get(f"/v1/runs/{run['id']}"))
    assert (done["status"], done["stop_reason"]) == ("cancelled", "cancelled")
    assert (
        await client.post(f"/v1/agents/{agent['id']}/messages/cancel", json={})
    ).status_code == 409
    after = await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "again"}))
    assert after["stop_reason"]["stop_reason"] == "end_turn"


async def test_cancel_a_paused_turn_frees_the_agent(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    fake_llm.state.add(Reply(tool_calls=[("get_weather", {})]))
    paused = await ok(
        client.post(
            f"/v1/agents/{agent['id']}/messages",
            json={"input": "weather?", "client_tools": [WEATHER]},
        )
    )
    run_id = paused["messages"][0]["run_id"]
    assert await ok(client.post(f"/v1/agents/{agent['id']}/messages/cancel", json={})) == {
        run_id: "cancelled"
    }
    run = await ok(client.get(f"/v1/runs/{run_id}"))
    assert run["status"] == "cancelled"
    history = await ok(client.get(f"/v1/agents/{agent['id']}/messages"))
    assert [m["message_type"] for m in history][-2:] == [
        "approval_response_message",
        "tool_return_message",
    ]
    assert history[-1]["status"] == "error"
    state = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert state["pending_approval"] is None
    after = await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hello"}))
    assert after["stop_reason"]["stop_reason"] == "end_turn"


async def test_cancel_a_queued_async_turn_and_a_finished_one(
    make_app: AppMaker, fake_llm: FakeLLMServer
) -> None:
    app, client = await make_app(dispatcher=False)
    agent = await create_agent(client)
    run = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": "x"}))
    assert await ok(client.post(f"/v1/runs/{run['id']}/cancel")) == {run["id"]: "cancelled"}
    assert (await ok(client.get(f"/v1/runs/{run['id']}")))["status"] == "cancelled"
    done = await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "y"}))
    done_id = done["messages"][0]["run_id"]
    assert await ok(client.post(f"/v1/runs/{done_id}/cancel")) == {done_id: "completed"}
    assert (
        await client.post("/v1/runs/run-00000000-0000-4000-8000-000000000000/cancel")
    ).status_code == 404
    other = await create_agent(client)
    wrong = await client.post(
        f"/v1/agents/{other['id']}/messages/cancel", json={"run_ids": [done_id]}
    )
    assert wrong.status_code == 404
    assert app.state.runtime.dispatcher is not None


async def test_cancel_a_running_sleeptime_run_leaves_no_edit(
    make_app: AppMaker, fake_llm: FakeLLMServer
) -> None:
    app, client, primary, _ = await _world(make_app, 1)
    hold = threading.Event()
    fake_llm.state.add(
        Reply(text="ok"),
        Reply(tool_calls=[("memory_rethink", {"label": "human", "new_memory": "gone"})]),
        Reply(tool_calls=[("memory_finish_edits", {})], hold=hold),
    )
    [run_id] = (await _turn(client, primary["id"], "x"))["usage"]["run_ids"]
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 3)
    assert await ok(client.post(f"/v1/runs/{run_id}/cancel")) == {run_id: "cancelled"}
    await _settle(app)
    hold.set()
    run = await ok(client.get(f"/v1/runs/{run_id}"))
    assert (run["status"], run["stop_reason"]) == ("cancelled", "cancelled")
    block = await ok(client.get(f"/v1/agents/{primary['id']}/core-memory/blocks/human"))
    assert block["value"] == "Ana"
