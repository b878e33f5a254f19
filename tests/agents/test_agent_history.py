"""An agent's history as Letta keeps it: the system message first (``message_ids[0]``), the
initial message sequence (or Letta's boot sequence), messages as the client sent them, the
in-context list, and reset-messages."""

import asyncio
import json
import threading
from typing import Any

import httpx
import pytest
from letta_client import AsyncLetta
from letta_client.types import OpenAIModelSettings

from tests.conftest import MODEL, AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, history, ok


def types(messages: list[dict[str, Any]]) -> list[str]:
    return [m["message_type"] for m in messages]


async def listed(client: httpx.AsyncClient, agent_id: str) -> list[dict[str, Any]]:
    return await ok(client.get(f"/v1/agents/{agent_id}/messages", params={"limit": 1000}))  # type: ignore[no-any-return]


async def test_the_system_message_is_first_and_shows_the_live_prompt(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, memory_blocks=[{"label": "human", "value": "Name: Ana"}])
    [system] = await listed(client, agent["id"])
    assert system["message_type"] == "system_message" and system["id"] == agent["message_ids"][0]
    assert system["content"].startswith(agent["system"]) and "Name: Ana" in system["content"]
    path = f"/v1/agents/{agent['id']}/core-memory/blocks/human"
    await ok(client.patch(path, json={"value": "Name: Ana, plays chess"}))
    [system] = await listed(client, agent["id"])
    assert "Name: Ana, plays chess" in system["content"]  # what the next step will send

    fake_llm.state.add(Reply(text="Hi Ana"))
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hi"}))
    sent = fake_llm.state.chat_requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user"]  # the prompt once, compiled live
    assert sent[0]["content"] == system["content"]
    messages = await listed(client, agent["id"])
    assert types(messages) == ["system_message", "user_message", "assistant_message"]
    state = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert state["message_ids"] == [m["id"] for m in messages]
    everyone = await ok(client.get("/v1/agents/"))
    assert [a["message_ids"] for a in everyone] == [state["message_ids"]]


async def test_initial_message_sequence_follows_the_system_message(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    sequence = [
        {"role": "user", "content": "I'm Ana.", "otid": "ana-1"},
        {"role": "assistant", "content": "Nice to meet you, Ana."},
        {"role": "system", "content": "Ana prefers short answers."},
    ]
    agent = await create_agent(client, initial_message_sequence=sequence)
    messages = await listed(client, agent["id"])
    assert [(m["message_type"], m.get("content")) for m in messages[1:]] == [
        ("user_message", "I'm Ana."),
        ("assistant_message", "Nice to meet you, Ana."),
        ("system_message", "Ana prefers short answers."),
    ]
    assert messages[1]["otid"] == "ana-1" and all(m["run_id"] is None for m in messages)
    assert agent["message_ids"] == [m["id"] for m in messages]
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hello"}))
    sent = fake_llm.state.chat_requests[-1]["messages"]
    assert [(m["role"], m["content"]) for m in sent[1:]] == [
        ("user", "I'm Ana."),
        ("assistant", "Nice to meet you, Ana."),
        ("system", "Ana prefers short answers."),
        ("user", "hello"),
    ]

    v2 = await create_agent(
        client,
        agent_type="memgpt_v2_agent",
        initial_message_sequence=[{"role": "assistant", "content": "Hello!"}],
    )
    said = (await listed(client, v2["id"]))[1:]
    # Through send_message: its result is hidden while send_message calls are replies.
    assert types(said) == ["assistant_message"]
    assert said[0]["content"] == "Hello!"
    raw = await ok(
        client.get(f"/v1/agents/{v2['id']}/messages", params={"use_assistant_message": "false"})
    )
    assert types(raw[1:]) == ["tool_call_message", "tool_return_message"]


async def test_the_default_start_per_agent_type(client: httpx.AsyncClient) -> None:
    # The greeting's send_message result is stored but not listed (it is the reply's).
    boot = ["reasoning_message", "assistant_message", "user_message"]
    v2 = await create_agent(client, agent_type="memgpt_v2_agent")
    messages = await listed(client, v2["id"])
    assert types(messages) == ["system_message", *boot]
    login = json.loads(messages[-1]["content"])
    assert (login["type"], login["last_login"]) == ("login", "Never (first login)")
    # Stored messages (the greeting's thought and text are one message, two list items).
    listed_ids = list(dict.fromkeys(m["id"] for m in messages))
    assert len(v2["message_ids"]) == 4  # system, greeting call, its result, login
    assert [i for i in v2["message_ids"] if i in listed_ids] == listed_ids
    assert types(await listed(client, (await create_agent(client))["id"])) == ["system_message"]
    primary = await create_agent(client, enable_sleeptime=True)
    assert types(await listed(client, primary["id"])) == ["system_message", *boot]
    helper = primary["managed_group"]["agent_ids"][0]
    assert types(await listed(client, helper)) == ["system_message"]
    bare = await create_agent(client, agent_type="memgpt_v2_agent", initial_message_sequence=[])
    assert types(await listed(client, bare["id"])) == ["system_message"]


async def test_a_sent_otid_is_kept(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await create_agent(client)
    body = {"messages": [{"role": "user", "content": "hi", "otid": "client-otid-7"}]}
    response = await ok(client.post(f"/v1/agents/{agent['id']}/messages", json=body))
    run_id = response["messages"][0]["run_id"]
    [user] = [m for m in await history(client, agent["id"]) if m["message_type"] == "user_message"]
    assert user["otid"] == "client-otid-7"
    run_messages = await ok(client.get(f"/v1/runs/{run_id}/messages"))
    assert run_messages[0]["otid"] == "client-otid-7"
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "again"}))
    unnamed = (await history(client, agent["id"]))[-2]
    assert unnamed["otid"] and unnamed["otid"] != "client-otid-7"  # derived from its id


async def test_reset_messages(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await create_agent(client, memory_blocks=[{"label": "human", "value": "Ana"}])
    system_id = agent["message_ids"][0]
    for text in ("one", "two"):
        await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": text}))
    reset = await ok(client.patch(f"/v1/agents/{agent['id']}/reset-messages", json={}))
    assert reset["id"] == agent["id"] and reset["message_ids"] == [system_id]
    assert [m["id"] for m in await listed(client, agent["id"])] == [system_id]
    runs = await ok(client.get("/v1/runs/", params={"agent_id": agent["id"]}))
    assert len(runs) == 2  # runs stay; their messages are gone, as in Letta
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "three"}))
    sent = fake_llm.state.chat_requests[-1]["messages"]
    assert [m["role"] for m in sent] == ["system", "user"] and sent[1]["content"] == "three"

    with_boot = await ok(
        client.patch(
            f"/v1/agents/{agent['id']}/reset-messages", json={"add_default_initial_messages": True}
        )
    )
    messages = await listed(client, agent["id"])
    assert types(messages) == [
        "system_message",
        "reasoning_message",
        "assistant_message",
        "user_message",
    ]
    listed_ids = list(dict.fromkeys(m["id"] for m in messages))
    assert len(with_boot["message_ids"]) == 4  # the greeting's hidden result is in context
    assert [i for i in with_boot["message_ids"] if i in listed_ids] == listed_ids
    missing = "agent-00000000-0000-4000-8000-000000000000"
    assert (await client.patch(f"/v1/agents/{missing}/reset-messages")).status_code == 404


async def test_reset_waits_for_the_turn_in_progress(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    release = threading.Event()
    fake_llm.state.add(Reply(text="slow", hold=release))
    turn = asyncio.create_task(
        client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hi"})
    )
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 1)
    busy = await client.patch(f"/v1/agents/{agent['id']}/reset-messages")
    assert busy.status_code == 409 and busy.json()["detail"]["code"] == "AGENT_BUSY"
    release.set()
    assert (await turn).status_code == 200
    assert types(await history(client, agent["id"])) == ["user_message", "assistant_message"]


async def test_the_sdk_sees_the_history_and_resets_it(
    make_client: AppFactory, fake_llm: FakeLLMServer
) -> None:
    sdk = AsyncLetta(base_url="http://testserver", http_client=await make_client(), max_retries=0)
    agent = await sdk.agents.create(
        model=MODEL, initial_message_sequence=[{"role": "user", "content": "hello"}]
    )
    assert len(agent.message_ids or []) == 2
    items = [m async for m in sdk.agents.messages.list(agent.id)]
    assert [m.message_type for m in items] == ["system_message", "user_message"]
    await sdk.agents.messages.create(
        agent.id, messages=[{"role": "user", "content": "hi", "otid": "sdk-otid"}]
    )
    mine = [m async for m in sdk.agents.messages.list(agent.id) if m.otid == "sdk-otid"]
    assert [m.message_type for m in mine] == ["user_message"]
    state = await sdk.agents.messages.reset(agent.id, add_default_initial_messages=False)
    assert state is not None and state.message_ids == [items[0].id]
    settings = state.api_model_settings  # the SDK's name for `model_settings`
    assert isinstance(settings, OpenAIModelSettings) and settings.provider_type == "openai"
    assert settings.max_output_tokens == 4096 and settings.temperature == 0.7


async def test_a_sleeptime_agent_may_ask_for_sleeptime(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, agent_type="sleeptime_agent", enable_sleeptime=True)
    assert (agent["agent_type"], agent["enable_sleeptime"]) == ("sleeptime_agent", True)
    assert agent["managed_group"] is None  # it is a sleeptime agent: it gets none of its own
    assert [t["name"] for t in agent["tools"]] == [
        "memory_replace",
        "memory_insert",
        "memory_rethink",
        "memory_finish_edits",
    ]
    patched = await ok(client.patch(f"/v1/agents/{agent['id']}", json={"enable_sleeptime": True}))
    assert patched["managed_group"] is None
    assert len(await ok(client.get("/v1/agents/"))) == 1


@pytest.mark.parametrize("limit", [None, 500])
async def test_block_default_limit(client: httpx.AsyncClient, limit: int | None) -> None:
    block: dict[str, Any] = {"label": "human", "value": "Ana"}
    if limit is not None:
        block["limit"] = limit
    agent = await create_agent(client, memory_blocks=[block])
    assert agent["blocks"][0]["limit"] == (limit or 100_000)
