"""Client-side tools and approvals: pause, resume, and every way a resume can be wrong."""

import httpx

from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok
from tests.messages.test_turns import send, types

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string"}},
        "required": ["city"],
    },
}


async def _paused(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> tuple[str, str, dict]:
    agent = await create_agent(client)
    fake_llm.state.add(Reply(tool_calls=[("get_weather", {"city": "Paris"})]))
    response = await ok(send(client, agent["id"], "weather in Paris?", client_tools=[WEATHER]))
    assert types(response["messages"]) == ["approval_request_message"]
    assert response["stop_reason"]["stop_reason"] == "requires_approval"
    request = response["messages"][0]
    return agent["id"], request["tool_call"]["tool_call_id"], request


async def test_client_tool_round_trip(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent_id, call_id, request = await _paused(client, fake_llm)
    assert request["tool_calls"][0]["name"] == "get_weather"
    assert request["otid"] == request["id"]
    sent_tools = {t["function"]["name"] for t in fake_llm.state.chat_requests[-1]["tools"]}
    assert "get_weather" in sent_tools
    state = await ok(client.get(f"/v1/agents/{agent_id}"))
    assert state["last_stop_reason"] == "requires_approval"
    run = await ok(client.get(f"/v1/runs/{request['run_id']}"))
    assert run["status"] == "completed" and run["stop_reason"] == "requires_approval"

    blocked = await send(client, agent_id, "hello?")
    assert blocked.status_code == 409
    detail = blocked.json()["detail"]
    assert detail["code"] == "PENDING_APPROVAL" and detail["pending_request_id"] == request["id"]

    fake_llm.state.add(Reply(text="It is sunny in Paris."))
    resumed = await ok(
        client.post(
            f"/v1/agents/{agent_id}/messages",
            json={
                "messages": [
                    {
                        "type": "approval",
                        "approvals": [
                            {
                                "type": "tool",
                                "tool_call_id": call_id,
                                "tool_return": "sunny, 21C",
                                "status": "success",
                            }
                        ],
                    }
                ],
                "client_tools": [WEATHER],
            },
        )
    )
    assert types(resumed["messages"]) == ["tool_return_message", "assistant_message"]
    assert resumed["messages"][0]["tool_return"] == "sunny, 21C"
    assert resumed["stop_reason"]["stop_reason"] == "end_turn"
    tool_msg = fake_llm.state.chat_requests[-1]["messages"][-1]
    assert tool_msg["role"] == "tool" and tool_msg["tool_call_id"] == call_id
    listed = types(await ok(client.get(f"/v1/agents/{agent_id}/messages")))
    assert listed == [
        "system_message",
        "user_message",
        "approval_request_message",
        "approval_response_message",
        "tool_return_message",
        "assistant_message",
    ]
    after = await ok(send(client, agent_id, "thanks"))
    assert after["stop_reason"]["stop_reason"] == "end_turn"


async def test_the_agent_state_shows_the_request_it_waits_on(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent_id, call_id, request = await _paused(client, fake_llm)
    state = await ok(client.get(f"/v1/agents/{agent_id}"))
    assert state["pending_approval"] == request
    listed = await ok(client.get("/v1/agents/", params={"include": "agent.pending_approval"}))
    assert [a["pending_approval"] for a in listed if a["id"] == agent_id] == [request]
    without = await ok(client.get(f"/v1/agents/{agent_id}", params={"include": "agent.tags"}))
    assert without["pending_approval"] is None

    fake_llm.state.add(Reply(text="It is sunny in Paris."))
    approval = {"type": "tool", "tool_call_id": call_id, "tool_return": "sunny"}
    body = {"messages": [{"type": "approval", "approvals": [{**approval, "status": "success"}]}]}
    await ok(client.post(f"/v1/agents/{agent_id}/messages", json=body))
    assert (await ok(client.get(f"/v1/agents/{agent_id}")))["pending_approval"] is None


async def test_tool_return_form_and_retry_is_accepted_once(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent_id, call_id, _ = await _paused(client, fake_llm)
    body = {
        "messages": [
            {
                "type": "tool_return",
                "tool_returns": [
                    {
                        "type": "tool",
                        "tool_call_id": call_id,
                        "tool_return": "rainy",
                        "status": "success",
                    }
                ],
            }
        ]
    }
    fake_llm.state.add(Reply(text="Rainy."))
    first = await ok(client.post(f"/v1/agents/{agent_id}/messages", json=body))
    calls = len(fake_llm.state.chat_requests)
    again = await ok(client.post(f"/v1/agents/{agent_id}/messages", json=body))
    assert again == first
    assert len(fake_llm.state.chat_requests) == calls
    listed = types(await ok(client.get(f"/v1/agents/{agent_id}/messages")))
    assert listed.count("tool_return_message") == 1


async def test_wrong_approvals_are_400(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await create_agent(client)
    nothing = await client.post(
        f"/v1/agents/{agent['id']}/messages",
        json={
            "messages": [
                {
                    "type": "approval",
                    "approvals": [{"type": "approval", "tool_call_id": "x", "approve": True}],
                }
            ]
        },
    )
    assert (
        nothing.status_code == 400
        and "No tool call is currently awaiting approval" in nothing.json()["detail"]
    )
    agent_id, call_id, _ = await _paused(client, fake_llm)
    wrong = await client.post(
        f"/v1/agents/{agent_id}/messages",
        json={
            "messages": [
                {
                    "type": "approval",
                    "approvals": [
                        {"type": "approval", "tool_call_id": "call_other", "approve": True}
                    ],
                }
            ]
        },
    )
    assert wrong.status_code == 400 and "Invalid tool call IDs" in wrong.json()["detail"]
    empty = await client.post(
        f"/v1/agents/{agent_id}/messages",
        json={"messages": [{"type": "approval", "approvals": []}]},
    )
    assert empty.status_code == 400
    late = await client.post(
        f"/v1/agents/{agent_id}/messages",
        json={
            "messages": [
                {"role": "user", "content": "x"},
                {
                    "type": "approval",
                    "approvals": [{"type": "approval", "tool_call_id": call_id, "approve": True}],
                },
            ]
        },
    )
    assert late.status_code == 400
    state = await ok(client.get(f"/v1/agents/{agent_id}"))
    assert state["last_stop_reason"] == "requires_approval"
    assert (await send(client, agent_id, "still pending?")).status_code == 409


async def test_server_tool_requiring_approval(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, memory_blocks=[{"label": "human", "value": "Ana"}])
    state = await ok(
        client.patch(
            f"/v1/agents/{agent['id']}/tools/approval/memory_insert",
            json={"requires_approval": True},
        )
    )
    assert {"tool_name": "memory_insert", "type": "requires_approval"} in state["tool_rules"]
    fake_llm.state.add(
        Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "likes jazz"})])
    )
    paused = await ok(send(client, agent["id"], "I like jazz"))
    assert types(paused["messages"]) == ["approval_request_message"]
    call_id = paused["messages"][0]["tool_call"]["tool_call_id"]
    fake_llm.state.add(Reply(text="Saved."))
    approved = await ok(
        client.post(
            f"/v1/agents/{agent['id']}/messages",
            json={
                "messages": [
                    {
                        "type": "approval",
                        "approvals": [
                            {"type": "approval", "tool_call_id": call_id, "approve": True}
                        ],
                    }
                ]
            },
        )
    )
    assert approved["messages"][0]["status"] == "success"
    block = await ok(client.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human"))
    assert block["value"] == "Ana\nlikes jazz"

    fake_llm.state.add(
        Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "hates jazz"})])
    )
    paused = await ok(send(client, agent["id"], "actually no"))
    call_id = paused["messages"][0]["tool_call"]["tool_call_id"]
    fake_llm.state.add(Reply(text="Fine."))
    denied = await ok(
        client.post(
            f"/v1/agents/{agent['id']}/messages",
            json={
                "messages": [
                    {
                        "type": "approval",
                        "approve": False,
                        "approval_request_id": call_id,
                        "reason": "not true",
                    }
                ]
            },
        )
    )
    assert denied["messages"][0]["status"] == "error"
    assert "User reason: not true" in denied["messages"][0]["tool_return"]
    block = await ok(client.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human"))
    assert block["value"] == "Ana\nlikes jazz"
    off = await ok(
        client.patch(
            f"/v1/agents/{agent['id']}/tools/approval/memory_insert",
            json={"requires_approval": False},
        )
    )
    assert not any(r["type"] == "requires_approval" for r in off["tool_rules"])
    missing = await client.patch(
        f"/v1/agents/{agent['id']}/tools/approval/send_message", json={"requires_approval": True}
    )
    assert missing.status_code == 404
    extra = await client.patch(
        f"/v1/agents/{agent['id']}/tools/approval/memory_insert",
        json={"requires_approval": True, "x": 1},
    )
    assert extra.status_code == 422


async def test_client_tool_replaces_a_server_tool_of_the_same_name(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, memory_blocks=[{"label": "human", "value": "Ana"}])
    mine = {
        "name": "memory_insert",
        "description": "client side",
        "parameters": {"type": "object", "properties": {}},
    }
    fake_llm.state.add(Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "x"})]))
    paused = await ok(send(client, agent["id"], "go", client_tools=[mine]))
    assert types(paused["messages"]) == ["approval_request_message"]
    tools = [
        t["function"]
        for t in fake_llm.state.chat_requests[-1]["tools"]
        if t["function"]["name"] == "memory_insert"
    ]
    assert tools == [
        {
            "name": "memory_insert",
            "description": "client side",
            "parameters": {"type": "object", "properties": {}},
        }
    ]
    block = await ok(client.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human"))
    assert block["value"] == "Ana"
