"""send_message per agent type, through the HTTP app and the loopback model: the JSON
response, the async run's messages and the message lists; and when a memgpt_v2_agent's turn
goes on (heartbeats and rules) or stops."""

import asyncio
import json
from collections import deque
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from letta_client import AsyncLetta

from tests.conftest import MODEL, AppAndClient
from tests.engine.test_loop import ScriptedModel, call
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok

V2 = "memgpt_v2_agent"
HELLO = 'Hello "Ana" \\ welcome\nback, café 😀'


def types(messages: list[dict[str, Any]]) -> list[str]:
    return [m["message_type"] for m in messages]


def reply(message: str = HELLO, **extra: Any) -> Reply:
    return Reply(tool_calls=[("send_message", {"message": message, **extra})])


async def send(client: httpx.AsyncClient, agent_id: str, **body: Any) -> dict[str, Any]:
    body.setdefault("input", "hi")
    return await ok(client.post(f"/v1/agents/{agent_id}/messages", json=body))  # type: ignore[no-any-return]


async def listed(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """A list; an agent's history without the system message it starts with."""
    items: list[dict[str, Any]] = await ok(client.get(path, params=params))
    if path.startswith("/v1/agents/") and items and items[0]["message_type"] == "system_message":
        return items[1:]
    return items


async def sdk_history(sdk: AsyncLetta, agent_id: str) -> list[Any]:
    history = [m async for m in sdk.agents.messages.list(agent_id)]
    assert history[0].message_type == "system_message"
    return history[1:]


@pytest.fixture
async def app_client(make_app: Any) -> AppAndClient:
    return await make_app()  # type: ignore[no-any-return]


async def test_memgpt_v2_reply_is_an_assistant_message_everywhere(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, agent_type=V2, initial_message_sequence=[])
    fake_llm.state.add(reply())
    response = await send(client, agent["id"])
    assert types(response["messages"]) == ["assistant_message"]
    assert response["messages"][0]["content"] == HELLO
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    run_id = response["messages"][0]["run_id"]
    run = await ok(client.get(f"/v1/runs/{run_id}"))
    assert run["request_config"]["use_assistant_message"] is True
    run_messages = await listed(client, f"/v1/runs/{run_id}/messages")
    assert types(run_messages) == ["user_message", "assistant_message"]
    history = await listed(client, f"/v1/agents/{agent['id']}/messages")
    assert types(history) == ["user_message", "assistant_message"]
    assert history[1]["content"] == HELLO and history[1]["id"] == response["messages"][0]["id"]
    # The page that starts at the hidden tool result does not show it either.
    after = await listed(client, f"/v1/agents/{agent['id']}/messages", after=history[1]["id"])
    assert after == []


async def test_memgpt_v2_without_assistant_messages_shows_the_tool_call(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, agent_type=V2, initial_message_sequence=[])
    fake_llm.state.add(reply("plain"))
    response = await send(client, agent["id"], use_assistant_message=False)
    assert types(response["messages"]) == ["tool_call_message", "tool_return_message"]
    call, result = response["messages"]
    assert call["tool_call"]["name"] == "send_message"
    assert json.loads(call["tool_call"]["arguments"]) == {"message": "plain"}
    assert result["tool_return"] == "Sent message successfully."
    assert result["tool_call_id"] == call["tool_call"]["tool_call_id"]
    run_messages = await listed(client, f"/v1/runs/{call['run_id']}/messages")
    assert types(run_messages) == ["user_message", "tool_call_message", "tool_return_message"]
    path = f"/v1/agents/{agent['id']}/messages"
    assert types(await listed(client, path)) == ["user_message", "assistant_message"]
    raw = await listed(client, path, use_assistant_message=False)
    assert types(raw) == ["user_message", "tool_call_message", "tool_return_message"]


async def test_memgpt_v2_async_run_messages(
    app_client: AppAndClient, fake_llm: FakeLLMServer
) -> None:
    app, client = app_client
    agent = await create_agent(client, agent_type=V2, initial_message_sequence=[])
    fake_llm.state.add(reply("from the background"))
    run = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": "x"}))
    await _settled(app)
    done = await ok(client.get(f"/v1/runs/{run['id']}"))
    assert (done["status"], done["stop_reason"]) == ("completed", "end_turn")
    messages = await listed(client, f"/v1/runs/{run['id']}/messages")
    assert types(messages) == ["user_message", "assistant_message"]
    assert messages[1]["content"] == "from the background"


async def test_letta_v1_send_message_is_a_terminal_tool(
    app_client: AppAndClient, fake_llm: FakeLLMServer
) -> None:
    app, client = app_client
    agent = await create_agent(client, tools=["send_message"], include_base_tool_rules=True)
    assert {"tool_name": "send_message", "type": "exit_loop"} in agent["tool_rules"]
    fake_llm.state.add(reply())
    response = await send(client, agent["id"])
    assert types(response["messages"]) == ["tool_call_message", "tool_return_message"]
    assert response["stop_reason"]["stop_reason"] == "tool_rule"
    history = await listed(client, f"/v1/agents/{agent['id']}/messages")
    assert types(history) == ["user_message", "assistant_message"]
    assert history[1]["content"] == HELLO
    fake_llm.state.add(reply("queued"))
    run = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": "x"}))
    await _settled(app)
    messages = await listed(client, f"/v1/runs/{run['id']}/messages")
    assert types(messages) == ["user_message", "assistant_message"]  # as Letta's run view


async def test_an_idempotent_replay_answers_the_same(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    v1 = await create_agent(client, tools=["send_message"], include_base_tool_rules=True)
    v2 = await create_agent(client, agent_type=V2, initial_message_sequence=[])
    seen = []
    for agent in (v1, v2):
        fake_llm.state.add(reply("once"))
        headers = {"Idempotency-Key": f"key-{agent['id']}"}
        url = f"/v1/agents/{agent['id']}/messages"
        first = await ok(client.post(url, json={"input": "hi"}, headers=headers))
        again = await ok(client.post(url, json={"input": "hi"}, headers=headers))
        assert again["messages"] == first["messages"]
        seen.append(types(first["messages"]))
    assert seen == [["tool_call_message", "tool_return_message"], ["assistant_message"]]
    assert len(fake_llm.state.chat_requests) == 2


async def test_memgpt_v2_goes_on_only_when_asked(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, agent_type=V2, include_base_tool_rules=False)
    assert agent["tool_rules"] == []
    search = ("conversation_search", {"query": "x"})
    fake_llm.state.add(Reply(tool_calls=[search]))
    once = await send(client, agent["id"])
    assert once["stop_reason"]["stop_reason"] == "end_turn" and once["usage"]["step_count"] == 1
    asking = ("conversation_search", {"query": "x", "request_heartbeat": True})
    fake_llm.state.add(Reply(tool_calls=[asking]), reply("found nothing"))
    twice = await send(client, agent["id"])
    assert twice["usage"]["step_count"] == 2
    assert types(twice["messages"]) == [
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
    ]
    request = fake_llm.state.chat_requests[-1]
    assert request["tool_choice"] == "required"
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in request["tools"]}
    assert "request_heartbeat" in schemas["conversation_search"]["required"]
    assert "request_heartbeat" in schemas["send_message"]["properties"]  # no rule: not terminal


async def test_memgpt_v2_rules_and_stop_reasons(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(
        client,
        agent_type=V2,
        memory_blocks=[{"label": "human", "value": "Ana"}],
        tool_rules=[{"tool_name": "send_message", "type": "required_before_exit"}],
    )
    insert = ("memory_insert", {"label": "human", "new_string": "tea"})  # a continue rule
    fake_llm.state.add(
        Reply(tool_calls=[insert]),
        Reply(tool_calls=[("conversation_search", {"query": "tea"})]),  # required tool next
        reply("Noted.", request_heartbeat=True),
    )
    response = await send(client, agent["id"])
    assert response["usage"]["step_count"] == 3
    assert response["stop_reason"]["stop_reason"] == "tool_rule"  # terminal, asked to go on
    sent = fake_llm.state.chat_requests[-1]
    schemas = {t["function"]["name"]: t["function"]["parameters"] for t in sent["tools"]}
    assert "request_heartbeat" not in schemas["send_message"]["properties"]
    fake_llm.state.add(Reply(text="no tool"))
    failed = await send(client, agent["id"])
    assert failed["stop_reason"]["stop_reason"] == "no_tool_call"
    run = await ok(client.get(f"/v1/runs/{failed['messages'][0]['run_id']}"))
    assert run["status"] == "failed" and run["error"]["type"] == "no_tool_call"


async def test_base_tool_rules_follow_include_base_tool_rules(client: httpx.AsyncClient) -> None:
    tools = ["send_message", "conversation_search"]
    ruled = await create_agent(client, agent_type=V2, include_base_tools=False, tools=tools)
    assert ruled["tool_rules"] == [
        {"tool_name": "send_message", "type": "exit_loop"},
        {"tool_name": "conversation_search", "type": "continue_loop"},
    ]
    bare = await create_agent(client, agent_type=V2, include_base_tool_rules=False)
    assert bare["tools"][0]["name"] == "send_message" and bare["tool_rules"] == []
    v1 = await create_agent(client, include_base_tool_rules=True)
    assert {"tool_name": "memory_insert", "type": "continue_loop"} in v1["tool_rules"]


async def test_the_sdk_sees_both_kinds_of_reply(
    app_client: AppAndClient, fake_llm: FakeLLMServer
) -> None:
    app, http = app_client
    sdk = AsyncLetta(base_url="http://testserver", http_client=http, max_retries=0)
    v2 = await sdk.agents.create(model=MODEL, agent_type=V2, initial_message_sequence=[])
    fake_llm.state.add(reply("from v2"))
    response = await sdk.agents.messages.create(v2.id, input="hi")
    [message] = response.messages
    assert message.message_type == "assistant_message" and message.content == "from v2"
    fake_llm.state.add(reply("queued v2"))
    run = await sdk.agents.messages.create_async(v2.id, input="later")
    await _settled(app)
    run_messages = [m async for m in sdk.runs.messages.list(run.id)]
    assert [m.message_type for m in run_messages] == ["user_message", "assistant_message"]
    assert run_messages[1].content == "queued v2"
    history = await sdk_history(sdk, v2.id)
    assert [m.message_type for m in history] == ["user_message", "assistant_message"] * 2
    primary = await sdk.agents.create(
        model=MODEL, enable_sleeptime=True, initial_message_sequence=[]
    )
    fake_llm.state.add(reply("from v1"), Reply(tool_calls=[("memory_finish_edits", {})]))
    response = await sdk.agents.messages.create(primary.id, input="hi")
    assert [m.message_type for m in response.messages] == [
        "tool_call_message",
        "tool_return_message",
    ]
    assert response.stop_reason.stop_reason == "tool_rule"
    history = await sdk_history(sdk, primary.id)
    assert [m.message_type for m in history] == ["user_message", "assistant_message"]
    assert history[1].content == "from v1"


async def _settled(app: FastAPI) -> None:
    await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)


async def test_a_model_that_streams_no_deltas_still_streams_every_part_once(
    make_app: Any,
) -> None:
    app, client = await make_app()
    model = ScriptedModel(deque())
    app.state.turns.deps.engine.providers = lambda info: model
    v2 = await create_agent(client, agent_type=V2, initial_message_sequence=[])
    v1 = await create_agent(client, tools=["send_message"], include_base_tool_rules=True)
    model.script.append(call("send_message", json.dumps({"message": HELLO})))
    model.script.append(call("send_message", '{"message": "v1"}', "call_v1"))
    [reply_v2] = await _streamed(client, v2["id"])
    assert (reply_v2["message_type"], reply_v2["content"]) == ("assistant_message", HELLO)
    head, result = await _streamed(client, v1["id"])
    assert head["tool_call"] == {
        "name": "send_message",
        "tool_call_id": "call_v1",
        "arguments": '{"message": "v1"}',
    }
    assert result["message_type"] == "tool_return_message"


async def _streamed(client: httpx.AsyncClient, agent_id: str) -> list[dict[str, Any]]:
    """The message chunks of a token stream, read whole."""
    body = {"input": "hi", "stream_tokens": True, "include_pings": False}
    response = await client.post(f"/v1/agents/{agent_id}/messages/stream", json=body)
    data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
    events = [json.loads(d) for d in data if d != "[DONE]"]
    closing = {"stop_reason", "usage_statistics"}
    return [e for e in events if e["message_type"] not in closing]
