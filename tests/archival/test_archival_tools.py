"""The archival tools in a turn: the model files a fact, then finds it by meaning; the
passage carries the run that filed it. A sleeptime-enabled primary reads archival memory."""

import json

import httpx
import pytest
from sqlalchemy import select

from app.archival.models import Passage
from app.kit.db import Database
from tests.conftest import AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok

EMBEDDING = "openai/fake-embedding"
TOOLS = ["send_message", "archival_memory_insert", "archival_memory_search"]


@pytest.fixture
async def client(make_client: AppFactory) -> httpx.AsyncClient:
    return await make_client(openai_models=["gpt-4o-mini", "fake-embedding"])


def _tool_returns(fake_llm: FakeLLMServer) -> list[str]:
    messages = fake_llm.state.chat_requests[-1]["messages"]
    return [str(m["content"]) for m in messages if m["role"] == "tool"]


async def test_the_model_files_and_finds_a_fact(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, db: Database
) -> None:
    agent = await create_agent(
        client,
        embedding=EMBEDDING,
        tools=TOOLS,
        include_base_tools=False,
        agent_type="memgpt_v2_agent",
    )
    fake_llm.state.add(
        Reply(
            tool_calls=[
                ("archival_memory_insert", {"content": "Ana adopted a kitten", "tags": ["pets"]})
            ]
        ),
        Reply(tool_calls=[("archival_memory_insert", {"content": "Ana flies to Oslo in May"})]),
        Reply(tool_calls=[("archival_memory_search", {"query": "feline", "top_k": 1})]),
        Reply(tool_calls=[("send_message", {"message": "You adopted a kitten."})]),
    )
    body = {"messages": [{"role": "user", "content": "what pet do I have?"}]}
    response = await ok(client.post(f"/v1/agents/{agent['id']}/messages", json=body))
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    run_id = response["messages"][0]["run_id"]

    inserted, _, searched = _tool_returns(fake_llm)[-3:]
    assert json.loads(inserted) == {"status": "OK", "message": "None"}
    [hit] = json.loads(json.loads(searched)["message"])
    assert hit["content"] == "Ana adopted a kitten" and hit["tags"] == ["pets"]
    assert set(hit) == {"timestamp", "content", "tags"}

    stored = await ok(client.get(f"/v1/agents/{agent['id']}/archival-memory"))
    assert [p["text"] for p in stored] == ["Ana adopted a kitten", "Ana flies to Oslo in May"]
    assert {p["created_by_id"] for p in stored} == {agent["id"]}
    async with db.session(write=False) as session:
        filed_by = set((await session.scalars(select(Passage.run_id))).all())
    assert filed_by == {run_id}


async def test_bad_tool_arguments_are_errors_for_the_model(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(
        client, tools=TOOLS, include_base_tools=False, agent_type="memgpt_v2_agent"
    )
    fake_llm.state.add(
        Reply(tool_calls=[("archival_memory_insert", {"content": ""})]),
        Reply(tool_calls=[("archival_memory_search", {"query": "x", "tag_match_mode": "some"})]),
        Reply(tool_calls=[("send_message", {"message": "done"})]),
    )
    body = {"messages": [{"role": "user", "content": "hi"}]}
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json=body))
    statuses = [json.loads(r)["status"] for r in _tool_returns(fake_llm)[-2:]]
    assert statuses == ["Failed", "Failed"]
    assert await ok(client.get(f"/v1/agents/{agent['id']}/archival-memory")) == []


async def test_a_sleeptime_primary_reads_archival_memory(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, enable_sleeptime=True)
    assert "archival_memory_search" in [t["name"] for t in agent["tools"]]
