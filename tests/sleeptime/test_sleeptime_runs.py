"""Sleeptime runs end to end: trigger schedule, transcript coverage, atomic edits."""

import asyncio
import itertools
import threading
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.groups.models import GroupAgent
from app.kit.db import Database
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok

AppMaker = Any
# A sleeptime primary starts with Letta's boot sequence (a greeting, its result, the login
# event) after its system message; sleeptime runs read those too.
BOOT = 3


async def _world(
    make_app: AppMaker, frequency: int | None = 5, **overrides: Any
) -> tuple[FastAPI, httpx.AsyncClient, dict[str, Any], str]:
    app, client = await make_app(**overrides)
    primary = await create_agent(
        client,
        name="prim",
        enable_sleeptime=True,
        memory_blocks=[{"label": "human", "value": "Ana"}],
    )
    group = primary["managed_group"]
    await ok(
        client.patch(
            f"/v1/groups/{group['id']}",
            json={
                "manager_config": {
                    "manager_type": "sleeptime",
                    "sleeptime_agent_frequency": frequency,
                }
            },
        )
    )
    return app, client, primary, group["agent_ids"][0]


async def _turn(client: httpx.AsyncClient, agent_id: str, text: str) -> dict[str, Any]:
    return await ok(client.post(f"/v1/agents/{agent_id}/messages", json={"input": text}))  # type: ignore[no-any-return]


async def _settle(app: FastAPI) -> None:
    await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)


@pytest.mark.parametrize(
    ("frequency", "due"),
    [(None, [1, 2, 3, 4, 5, 6, 7]), (1, [1, 2, 3, 4, 5, 6, 7]), (3, [1, 4, 7]), (5, [1, 6])],
)
async def test_trigger_schedule(
    make_app: AppMaker, fake_llm: FakeLLMServer, frequency: int | None, due: list[int]
) -> None:
    app, client, primary, helper = await _world(make_app, frequency)
    triggered = []
    for turn in range(1, 8):
        response = await _turn(client, primary["id"], f"turn {turn}")
        if response["usage"]["run_ids"]:
            triggered.append(turn)
            assert len(response["usage"]["run_ids"]) == 1
        await _settle(app)
    assert triggered == due
    group = await ok(client.get(f"/v1/groups/{primary['managed_group']['id']}"))
    expected_counter = None if frequency is None else (7 - 1) % frequency
    assert group["turns_counter"] == expected_counter
    runs = await ok(client.get("/v1/runs/", params={"agent_id": helper, "limit": 100}))
    assert len(runs) == len(due)
    assert {r["status"] for r in runs} == {"completed"}
    assert all(r["metadata"]["run_type"] == "sleeptime_agent_send_message_async" for r in runs)
    assert all(r["kind"] == "sleeptime" and r["parent_run_id"] for r in runs)


async def test_transcript_covers_every_message_once(
    make_app: AppMaker, fake_llm: FakeLLMServer, db: Database
) -> None:
    app, client, primary, helper = await _world(make_app, 2)
    for turn in range(1, 8):
        await _turn(client, primary["id"], f"note number {turn}")
        await _settle(app)
    history = await ok(client.get(f"/v1/agents/{helper}/messages", params={"limit": 1000}))
    transcripts = [m["content"] for m in history if m["message_type"] == "user_message"]
    assert len(transcripts) == 4  # turns 1, 3, 5, 7
    assert "background memory agent" in transcripts[0]
    for turn in range(1, 8):
        line = f"user: note number {turn}"
        assert sum(t.count(line) for t in transcripts) == 1, line
        reply = f"assistant: echo: note number {turn}"
        assert sum(t.count(reply) for t in transcripts) == 1, reply
    async with db.session(write=False) as session:
        watermark = await session.scalar(
            select(GroupAgent.processed_through_seq).where(GroupAgent.agent_id == helper)
        )
    assert watermark == BOOT + 14  # 7 turns x (user + assistant)


async def test_sleeptime_edits_shared_memory(make_app: AppMaker, fake_llm: FakeLLMServer) -> None:
    app, client, primary, helper = await _world(make_app, 1)
    fake_llm.state.add(
        Reply(text="Nice to meet you."),
        Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "Works as a pilot"})]),
        Reply(tool_calls=[("memory_finish_edits", {})]),
    )
    response = await _turn(client, primary["id"], "I'm a pilot")
    [run_id] = response["usage"]["run_ids"]
    await _settle(app)
    run = await ok(client.get(f"/v1/runs/{run_id}"))
    assert run["status"] == "completed" and run["stop_reason"] == "tool_rule"
    block = await ok(client.get(f"/v1/agents/{primary['id']}/core-memory/blocks/human"))
    assert block["value"] == "Ana\nWorks as a pilot"
    history = await ok(client.get(f"/v1/blocks/{block['id']}/history"))
    assert (history[0]["agent_id"], history[0]["run_id"]) == (helper, run_id)
    prompt = fake_llm.state.chat_requests[1]["messages"]
    assert "memory_persona" in prompt[0]["content"]


async def test_a_failed_run_leaves_no_edit_and_the_next_covers_it(
    make_app: AppMaker, fake_llm: FakeLLMServer
) -> None:
    app, client, primary, helper = await _world(make_app, 1, provider_max_retries=0)
    fake_llm.state.add(
        Reply(text="ok"),
        Reply(tool_calls=[("memory_rethink", {"label": "human", "new_memory": "WRONG"})]),
        Reply(status=500),
    )
    failed = (await _turn(client, primary["id"], "first"))["usage"]["run_ids"][0]
    await _settle(app)
    assert (await ok(client.get(f"/v1/runs/{failed}")))["status"] == "failed"
    block = await ok(client.get(f"/v1/agents/{primary['id']}/core-memory/blocks/human"))
    assert block["value"] == "Ana" and block["version"] == 1
    await _turn(client, primary["id"], "second")
    await _settle(app)
    history = await ok(client.get(f"/v1/agents/{helper}/messages", params={"limit": 100}))
    last = [m["content"] for m in history if m["message_type"] == "user_message"][-1]
    assert "user: first" in last and "user: second" in last


async def test_concurrent_edit_is_not_lost(make_app: AppMaker, fake_llm: FakeLLMServer) -> None:
    app, client, primary, _helper = await _world(make_app, 1)
    hold = threading.Event()
    fake_llm.state.add(
        Reply(text="ok"),
        Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "Likes tea"})]),
        Reply(tool_calls=[("memory_finish_edits", {})], hold=hold),
    )
    await _turn(client, primary["id"], "I like tea")
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 3)
    staged = await ok(client.get(f"/v1/agents/{primary['id']}/core-memory/blocks/human"))
    assert staged["value"] == "Ana"  # nothing is visible before the run ends
    await ok(
        client.patch(
            f"/v1/agents/{primary['id']}/core-memory/blocks/human", json={"value": "Ana B."}
        )
    )
    hold.set()
    await _settle(app)
    block = await ok(client.get(f"/v1/agents/{primary['id']}/core-memory/blocks/human"))
    assert block["value"] == "Ana B.\nLikes tea"


async def test_a_waiting_run_is_joined(make_app: AppMaker, fake_llm: FakeLLMServer) -> None:
    app, client, primary, helper = await _world(make_app, 1)
    hold = threading.Event()
    fake_llm.state.add(
        Reply(text="one"), Reply(tool_calls=[("memory_finish_edits", {})], hold=hold)
    )
    first = (await _turn(client, primary["id"], "one"))["usage"]["run_ids"]
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 2)  # the first run is running
    second = (await _turn(client, primary["id"], "two"))["usage"]["run_ids"]
    third = (await _turn(client, primary["id"], "three"))["usage"]["run_ids"]
    assert second == third and second != first
    hold.set()
    await _settle(app)
    runs = await ok(client.get("/v1/runs/", params={"agent_id": helper}))
    assert len(runs) == 2 and {r["status"] for r in runs} == {"completed"}
    history = await ok(client.get(f"/v1/agents/{helper}/messages", params={"limit": 100}))
    last = [m["content"] for m in history if m["message_type"] == "user_message"][-1]
    assert "user: two" in last and "user: three" in last and "user: one" not in last


async def test_async_turn(make_app: AppMaker, fake_llm: FakeLLMServer) -> None:
    app, client = await make_app()
    agent = await create_agent(client)
    run = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": "later"}))
    assert run["kind"] == "async" and run["background"] is True
    assert run["metadata"]["run_type"] == "send_message_async"
    await _settle(app)
    done = await ok(client.get(f"/v1/runs/{run['id']}"))
    assert (done["status"], done["stop_reason"], done["attempts"]) == ("completed", "end_turn", 1)
    messages = await ok(client.get(f"/v1/runs/{run['id']}/messages"))
    assert [m["message_type"] for m in messages] == ["user_message", "assistant_message"]
    assert messages[1]["content"] == "echo: later"


async def test_waiting_for_a_run_to_end(make_app: AppMaker, fake_llm: FakeLLMServer) -> None:
    app, client, primary, _ = await _world(make_app, 1)
    hold = threading.Event()
    fake_llm.state.add(Reply(text="ok"), Reply(tool_calls=[("memory_finish_edits", {})], hold=hold))
    [run_id] = (await _turn(client, primary["id"], "x"))["usage"]["run_ids"]
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 2)
    early = await ok(client.get(f"/v1/runs/{run_id}", params={"wait": 0.05}))
    assert early["status"] == "running"
    waiting = asyncio.create_task(client.get(f"/v1/runs/{run_id}", params={"wait": 30}))
    hold.set()
    done = (await waiting).json()
    assert (done["status"], done["stop_reason"]) == ("completed", "tool_rule")
    assert (await client.get(f"/v1/runs/{run_id}", params={"wait": 61})).status_code == 422
    await _settle(app)


async def test_a_hundred_concurrent_turns(
    make_app: AppMaker, fake_llm: FakeLLMServer, db: Database
) -> None:
    app, client, primary, helper = await _world(make_app, 3, turn_wait_seconds=300)
    responses = await asyncio.gather(
        *(_turn(client, primary["id"], f"msg {i}") for i in range(100))
    )
    triggers = [r["usage"]["run_ids"] for r in responses if r["usage"]["run_ids"]]
    assert len(triggers) == 34  # turns 1, 4, ..., 100
    await _settle(app)
    group = await ok(client.get(f"/v1/groups/{primary['managed_group']['id']}"))
    assert group["turns_counter"] == 99 % 3
    runs = await ok(client.get("/v1/runs/", params={"agent_id": helper, "limit": 1000}))
    assert {r["id"] for r in runs} == {i for ids in triggers for i in ids}
    assert {r["status"] for r in runs} == {"completed"}
    spans = sorted((r["started_at"], r["completed_at"]) for r in runs)
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))  # never two at once
    history = await ok(client.get(f"/v1/agents/{helper}/messages", params={"limit": 1000}))
    transcripts = "\n".join(m["content"] for m in history if m["message_type"] == "user_message")
    for i in range(100):
        assert transcripts.count(f"user: msg {i}\n") + transcripts.endswith(f"user: msg {i}") == 1
    async with db.session(write=False) as session:
        watermark = await session.scalar(
            select(GroupAgent.processed_through_seq).where(GroupAgent.agent_id == helper)
        )
    # Two messages a turn, and the summaries the primary's window was compacted into (stored
    # in its history with their own seq, never shown to the sleeptime agent).
    said = await ok(client.get(f"/v1/agents/{primary['id']}/messages", params={"limit": 1000}))
    summaries = sum(m["message_type"] == "summary_message" for m in said)
    assert watermark == BOOT + 200 + summaries
    assert "summary" not in transcripts


async def test_group_shows_the_sleeptime_side(make_app: AppMaker, fake_llm: FakeLLMServer) -> None:
    app, client, primary, _ = await _world(make_app, 3)
    group_id = primary["managed_group"]["id"]
    fresh = await ok(client.get(f"/v1/groups/{group_id}"))
    assert (fresh["turns_since_last_processed"], fresh["last_sleeptime_run_id"]) == (0, None)
    [run_id] = (await _turn(client, primary["id"], "one"))["usage"]["run_ids"]
    await _settle(app)
    await _turn(client, primary["id"], "two")
    group = await ok(client.get(f"/v1/groups/{group_id}"))
    assert group["turns_since_last_processed"] == 1
    assert (group["last_sleeptime_run_id"], group["last_sleeptime_run_status"]) == (
        run_id,
        "completed",
    )
    listed = await ok(client.get("/v1/groups/"))
    assert listed[0]["last_sleeptime_run_id"] == run_id
