"""Turns end to end: the real service and provider code against the loopback model."""

import json
from typing import Any

import httpx

from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, history, ok


async def send(client: httpx.AsyncClient, agent_id: str, text: str, **body: Any) -> httpx.Response:
    payload = {"messages": [{"role": "user", "content": text}], **body}
    return await client.post(f"/v1/agents/{agent_id}/messages", json=payload)


def types(messages: list[dict[str, Any]]) -> list[str]:
    return [m["message_type"] for m in messages]


async def test_a_plain_reply(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await create_agent(client, memory_blocks=[{"label": "human", "value": "Name: Ana"}])
    fake_llm.state.add(Reply(text="Hello Ana!"))
    response = await ok(send(client, agent["id"], "hi there"))
    assert types(response["messages"]) == ["assistant_message"]
    reply = response["messages"][0]
    assert reply["content"] == "Hello Ana!"
    assert reply["id"].startswith("message-") and reply["run_id"].startswith("run-")
    assert reply["date"].endswith("+00:00") and "." not in reply["date"]
    assert response["stop_reason"] == {"message_type": "stop_reason", "stop_reason": "end_turn"}
    usage = response["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"]) == (
        11,
        7,
        18,
    )
    assert usage["step_count"] == 1 and usage["message_type"] == "usage_statistics"

    sent = fake_llm.state.chat_requests[-1]
    system = sent["messages"][0]
    assert system["role"] == "system"
    assert "<human>" in system["content"] and "Name: Ana" in system["content"]
    assert "chars_current=9" in system["content"]
    assert sent["messages"][-1] == {"role": "user", "content": "hi there"}
    assert {t["function"]["name"] for t in sent["tools"]} == {
        "conversation_search",
        "memory_replace",
        "memory_insert",
    }
    run = await ok(client.get(f"/v1/runs/{reply['run_id']}"))
    assert (run["status"], run["stop_reason"], run["kind"]) == (
        "completed",
        "end_turn",
        "foreground",
    )
    assert run["metadata"]["run_type"] == "send_message"
    assert run["completed_at"] and run["total_duration_ns"] > 0 and run["ttft_ns"] > 0
    listed = await history(client, agent["id"])
    assert types(listed) == ["user_message", "assistant_message"]
    assert listed[0]["content"] == "hi there"
    steps = await ok(client.get(f"/v1/runs/{run['id']}/steps"))
    assert len(steps) == 1 and steps[0]["total_tokens"] == 18 and steps[0]["status"] == "success"
    run_usage = await ok(client.get(f"/v1/runs/{run['id']}/usage"))
    assert run_usage["total_tokens"] == 18
    run_messages = await ok(client.get(f"/v1/runs/{run['id']}/messages"))
    assert types(run_messages) == ["user_message", "assistant_message"]
    state = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert state["last_stop_reason"] == "end_turn"


async def test_input_shorthand(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await create_agent(client)
    response = await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "ping"}))
    assert response["messages"][0]["content"] == "echo: ping"


async def test_memory_tools_edit_blocks_through_the_write_path(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, memory_blocks=[{"label": "human", "value": "Name: Ana"}])
    fake_llm.state.add(
        Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "Likes tea"})]),
        Reply(text="Noted."),
    )
    response = await ok(send(client, agent["id"], "I like tea"))
    assert types(response["messages"]) == [
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
    ]
    call, result = response["messages"][0], response["messages"][1]
    assert call["tool_call"]["name"] == "memory_insert"
    assert json.loads(call["tool_call"]["arguments"]) == {
        "label": "human",
        "new_string": "Likes tea",
    }
    assert call["tool_calls"] == [call["tool_call"]]
    assert (
        result["status"] == "success"
        and result["tool_call_id"] == call["tool_call"]["tool_call_id"]
    )
    assert result["tool_returns"][0]["tool_return"] == "Name: Ana\nLikes tea"
    assert response["usage"]["step_count"] == 2
    block = await ok(client.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human"))
    assert block["value"] == "Name: Ana\nLikes tea" and block["version"] == 2
    history = await ok(client.get(f"/v1/blocks/{block['id']}/history"))
    assert history[0]["actor_type"] == "agent" and history[0]["agent_id"] == agent["id"]
    assert history[0]["run_id"] == response["messages"][0]["run_id"]
    second = fake_llm.state.chat_requests[-1]["messages"]
    assert "Likes tea" in second[0]["content"]  # the next step sees the edited memory
    assert second[-1]["role"] == "tool" and json.loads(second[-1]["content"])["status"] == "OK"


async def test_tool_failures_go_back_to_the_model(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(
        client, memory_blocks=[{"label": "human", "value": "x" * 10, "limit": 12}]
    )
    fake_llm.state.add(
        Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "too long"})]),
        Reply(
            tool_calls=[("memory_replace", {"label": "nope", "old_string": "a", "new_string": "b"})]
        ),
        Reply(tool_calls=[("no_such_tool", {})]),
        Reply(text="ok"),
    )
    response = await ok(send(client, agent["id"], "go"))
    returns = [m for m in response["messages"] if m["message_type"] == "tool_return_message"]
    assert [r["status"] for r in returns] == ["error", "error", "error"]
    assert "character limit" in returns[0]["tool_return"]
    assert "nope" in returns[1]["tool_return"]
    assert "no_such_tool" in returns[2]["tool_return"]
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    block = await ok(client.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human"))
    assert block["value"] == "x" * 10


async def test_sleeptime_primary_answers_with_send_message(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, enable_sleeptime=True)
    fake_llm.state.add(Reply(tool_calls=[("send_message", {"message": "Hi from bob"})]))
    response = await ok(send(client, agent["id"], "hello"))
    # A letta_v1_agent's send_message is an ordinary terminal tool in its response ...
    assert types(response["messages"]) == ["tool_call_message", "tool_return_message"]
    call = response["messages"][0]["tool_call"]
    assert call["name"] == "send_message"
    assert json.loads(call["arguments"]) == {"message": "Hi from bob"}
    assert response["stop_reason"]["stop_reason"] == "tool_rule"
    group_id = agent["managed_group"]["id"]
    listed = await ok(client.get(f"/v1/groups/{group_id}/messages", params={"limit": 100}))
    # The primary's conversation: its system message, the boot sequence a sleeptime primary
    # starts with, then this turn.
    assert listed[0]["message_type"] == "system_message"
    said = [(m["message_type"], m.get("content")) for m in listed]
    turn = said.index(("user_message", "hello"))
    assert said[turn + 1] == ("assistant_message", "Hi from bob")


async def test_max_steps(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await create_agent(client)
    fake_llm.state.add(*[Reply(tool_calls=[("conversation_search", {"query": "x"})])] * 3)
    response = await ok(send(client, agent["id"], "loop", max_steps=2))
    assert response["stop_reason"]["stop_reason"] == "max_steps"
    assert response["usage"]["step_count"] == 2
    run = await ok(client.get(f"/v1/runs/{response['messages'][0]['run_id']}"))
    assert run["status"] == "completed"


async def test_conversation_search_and_include_filter(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    await ok(send(client, agent["id"], "my cat is called Miso"))
    fake_llm.state.add(
        Reply(tool_calls=[("conversation_search", {"query": "miso"})]), Reply(text="Miso!")
    )
    response = await ok(
        send(
            client,
            agent["id"],
            "what is my cat called?",
            include_return_message_types=["assistant_message"],
        )
    )
    assert types(response["messages"]) == ["assistant_message"]
    tool_message = fake_llm.state.chat_requests[-1]["messages"][-1]
    assert "called Miso" in json.loads(tool_message["content"])["message"]


async def test_group_endpoint_sends_to_the_primary(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, name="prim", enable_sleeptime=True)
    group_id = agent["managed_group"]["id"]
    fake_llm.state.add(Reply(tool_calls=[("send_message", {"message": "from the group"})]))
    response = await ok(
        client.post(
            f"/v1/groups/{group_id}/messages",
            json={"messages": [{"role": "user", "content": "hey"}]},
        )
    )
    arguments = response["messages"][0]["tool_call"]["arguments"]
    assert json.loads(arguments) == {"message": "from the group"}
    run = await ok(client.get(f"/v1/runs/{response['messages'][0]['run_id']}"))
    assert run["agent_id"] == agent["id"] and run["group_id"] == group_id
    listed = await ok(client.get(f"/v1/groups/{group_id}/messages", params={"limit": 100}))
    assert listed[0]["message_type"] == "system_message"
    assert ("user_message", "hey") in [(m["message_type"], m.get("content")) for m in listed]
    assert (
        await client.post(
            "/v1/groups/group-00000000-0000-4000-8000-000000000000/messages", json={"input": "x"}
        )
    ).status_code == 404


async def test_sleeptime_agent_edits_and_finishes(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    primary = await create_agent(
        client, enable_sleeptime=True, memory_blocks=[{"label": "human", "value": "Ana"}]
    )
    helper_id = primary["managed_group"]["agent_ids"][0]
    fake_llm.state.add(
        Reply(tool_calls=[("memory_rethink", {"label": "human", "new_memory": "Ana, likes tea"})]),
        Reply(tool_calls=[("memory_finish_edits", {})]),
    )
    response = await ok(send(client, helper_id, "user: I like tea"))
    assert response["stop_reason"]["stop_reason"] == "tool_rule"
    shared = await ok(client.get(f"/v1/agents/{primary['id']}/core-memory/blocks/human"))
    assert shared["value"] == "Ana, likes tea"
    finish = [m for m in response["messages"] if m["message_type"] == "tool_return_message"][-1]
    assert finish["tool_return"] == "None"


async def test_run_listing_filters_and_delete(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    one, two = await create_agent(client), await create_agent(client)
    await ok(send(client, one["id"], "a"))
    fake_llm.state.add(Reply(status=401))
    assert (await send(client, two["id"], "b")).status_code == 401
    runs = await ok(client.get("/v1/runs/"))
    assert len(runs) == 2 and runs[0]["agent_id"] == two["id"]  # newest first
    assert [
        r["agent_id"] for r in await ok(client.get("/v1/runs", params={"agent_id": one["id"]}))
    ] == [one["id"]]
    failed = await ok(client.get("/v1/runs/", params={"statuses": ["failed"]}))
    assert [r["agent_id"] for r in failed] == [two["id"]]
    assert await ok(client.get("/v1/runs/", params={"active": "true"})) == []
    assert len(await ok(client.get("/v1/runs/", params={"stop_reason": "end_turn"}))) == 1
    assert await ok(client.get("/v1/runs/", params={"background": "true"})) == []
    run_id = failed[0]["id"]
    assert await ok(client.delete(f"/v1/runs/{run_id}")) is None
    assert (await client.get(f"/v1/runs/{run_id}")).status_code == 404
    assert (await client.delete(f"/v1/runs/{run_id}")).status_code == 404
