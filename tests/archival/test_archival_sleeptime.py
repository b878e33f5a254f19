"""A sleeptime group's ``sleeptime_archival_insert``: its agents get ``archival_memory_insert``
and file into the primary's own archive, with the run's other edits when the run completes."""

import asyncio
from typing import Any

import httpx
from fastapi import FastAPI

from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok

AppMaker = Any
EMBEDDING = "openai/fake-embedding"


async def _world(
    make_app: AppMaker, **overrides: Any
) -> tuple[FastAPI, httpx.AsyncClient, dict[str, Any], str]:
    app, client = await make_app(openai_models=["gpt-4o-mini", "fake-embedding"], **overrides)
    primary = await create_agent(client, name="prim", enable_sleeptime=True, embedding=EMBEDDING)
    group = primary["managed_group"]
    config = {
        "manager_type": "sleeptime",
        "sleeptime_agent_frequency": 1,
        "sleeptime_archival_insert": True,
    }
    changed = await ok(client.patch(f"/v1/groups/{group['id']}", json={"manager_config": config}))
    assert changed["sleeptime_archival_insert"] is True
    return app, client, primary, group["agent_ids"][0]


async def _tools(client: httpx.AsyncClient, agent_id: str) -> list[str]:
    agent = await ok(client.get(f"/v1/agents/{agent_id}"))
    return [t["name"] for t in agent["tools"]]


async def _turn(client: httpx.AsyncClient, agent_id: str, text: str) -> str:
    body = {"input": text}
    response = await ok(client.post(f"/v1/agents/{agent_id}/messages", json=body))
    [run_id] = response["usage"]["run_ids"]
    return str(run_id)


async def _settle(app: FastAPI) -> None:
    await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)


async def test_the_setting_gives_and_takes_the_tool(make_app: AppMaker) -> None:
    _app, client, primary, helper = await _world(make_app)
    assert "archival_memory_insert" in await _tools(client, helper)
    group_id = primary["managed_group"]["id"]
    assert (await ok(client.get(f"/v1/groups/{group_id}")))["sleeptime_archival_insert"] is True

    off = {"manager_type": "sleeptime", "sleeptime_archival_insert": False}
    await ok(client.patch(f"/v1/groups/{group_id}", json={"manager_config": off}))
    assert "archival_memory_insert" not in await _tools(client, helper)
    assert "memory_finish_edits" in await _tools(client, helper)
    bad = {"manager_config": {"manager_type": "sleeptime", "sleeptime_archival_insert": "maybe"}}
    refused = await client.patch(f"/v1/groups/{group_id}", json=bad)
    assert refused.status_code == 422, refused.text


async def test_a_sleeptime_run_files_into_the_primary_archive_when_it_completes(
    make_app: AppMaker, fake_llm: FakeLLMServer
) -> None:
    app, client, primary, helper = await _world(make_app)
    fake_llm.state.add(
        Reply(text="Nice to meet you."),
        Reply(tool_calls=[("archival_memory_insert", {"content": "Ana flies planes"})]),
        Reply(tool_calls=[("memory_finish_edits", {})]),
    )
    await _turn(client, primary["id"], "I'm a pilot")
    await _settle(app)
    [passage] = await ok(client.get(f"/v1/agents/{primary['id']}/archival-memory"))
    assert passage["text"] == "Ana flies planes"
    assert passage["created_by_id"] == helper
    assert passage["embedding_config"]["handle"] == EMBEDDING
    assert await ok(client.get(f"/v1/agents/{helper}/archival-memory")) == []
    found = await ok(
        client.get(f"/v1/agents/{primary['id']}/archival-memory/search", params={"query": "planes"})
    )
    assert [r["content"] for r in found["results"]] == ["Ana flies planes"]


async def test_a_failed_sleeptime_run_files_nothing(
    make_app: AppMaker, fake_llm: FakeLLMServer
) -> None:
    app, client, primary, helper = await _world(make_app, provider_max_retries=0)
    fake_llm.state.add(
        Reply(text="ok"),
        Reply(tool_calls=[("archival_memory_insert", {"content": "a fact"})]),
        Reply(status=500),
    )
    await _turn(client, primary["id"], "first")
    await _settle(app)
    runs = await ok(client.get("/v1/runs/", params={"agent_id": helper}))
    assert [r["status"] for r in runs] == ["failed"]
    assert await ok(client.get(f"/v1/agents/{primary['id']}/archival-memory")) == []
