"""The official SDK drives turns: a reply, the client-tool round trip, the run, and the
sleeptime flow."""

import asyncio
import json
from typing import Any

import pytest
from letta_client import AsyncLetta, ConflictError

from tests.conftest import MODEL, AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply

WEATHER = {
    "name": "get_weather",
    "description": "Current weather for a city.",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
async def sdk(make_client: AppFactory) -> AsyncLetta:
    return AsyncLetta(base_url="http://testserver", http_client=await make_client(), max_retries=0)


async def test_send_and_read_the_reply(sdk: AsyncLetta, fake_llm: FakeLLMServer) -> None:
    agent = await sdk.agents.create(model=MODEL, memory_blocks=[{"label": "human", "value": "Ana"}])
    fake_llm.state.add(Reply(text="Hello, Ana."))
    response = await sdk.agents.messages.create(
        agent.id, messages=[{"role": "user", "content": "hi"}]
    )
    assert response.stop_reason.stop_reason == "end_turn"
    reply = response.messages[-1]
    assert reply.message_type == "assistant_message"
    assert reply.content == "Hello, Ana."
    assert response.usage.total_tokens == 18
    run = await sdk.runs.retrieve(reply.run_id)
    assert run.status == "completed" and run.stop_reason == "end_turn"
    listed = [m async for m in sdk.agents.messages.list(agent.id)]
    assert [m.message_type for m in listed] == [
        "system_message",
        "user_message",
        "assistant_message",
    ]
    runs = [r.id async for r in sdk.runs.list(agent_id=agent.id)]
    assert runs == [run.id]


async def test_client_tool_round_trip(sdk: AsyncLetta, fake_llm: FakeLLMServer) -> None:
    agent = await sdk.agents.create(model=MODEL)
    fake_llm.state.add(Reply(tool_calls=[("get_weather", {"city": "Paris"})]))
    paused = await sdk.agents.messages.create(
        agent.id,
        messages=[{"role": "user", "content": "weather in Paris?"}],
        client_tools=[WEATHER],
    )
    assert paused.stop_reason.stop_reason == "requires_approval"
    request = paused.messages[-1]
    assert request.message_type == "approval_request_message"
    call = request.tool_calls[0]
    assert call.name == "get_weather"
    with pytest.raises(ConflictError):
        await sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": "?"}])
    fake_llm.state.add(Reply(text="Sunny."))
    done = await sdk.agents.messages.create(
        agent.id,
        messages=[
            {
                "type": "approval",
                "approvals": [
                    {
                        "type": "tool",
                        "tool_call_id": call.tool_call_id,
                        "tool_return": "sunny",
                        "status": "success",
                    }
                ],
            }
        ],
        client_tools=[WEATHER],
    )
    assert [m.message_type for m in done.messages] == ["tool_return_message", "assistant_message"]
    assert done.stop_reason.stop_reason == "end_turn"
    run = await sdk.runs.retrieve(done.messages[-1].run_id)
    assert run.status == "completed"
    steps = [s async for s in sdk.runs.steps.list(run.id)]
    assert len(steps) == 1


async def test_sleeptime_flow_with_the_sdk(make_app: Any, fake_llm: FakeLLMServer) -> None:
    app, http = await make_app()
    sdk = AsyncLetta(base_url="http://testserver", http_client=http, max_retries=0)
    agent = await sdk.agents.create(
        model=MODEL, enable_sleeptime=True, memory_blocks=[{"label": "human", "value": "Ana"}]
    )
    fake_llm.state.add(
        Reply(tool_calls=[("send_message", {"message": "Hi Ana!"})]),
        Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "Plays chess"})]),
        Reply(tool_calls=[("memory_finish_edits", {})]),
    )
    response = await sdk.agents.messages.create(
        agent.id, messages=[{"role": "user", "content": "I play chess"}]
    )
    assert response.messages[0].tool_call.arguments == json.dumps({"message": "Hi Ana!"})
    [run_id] = response.usage.run_ids
    await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)
    run = await sdk.runs.retrieve(run_id)
    assert run.status == "completed"
    block = await sdk.agents.blocks.retrieve("human", agent_id=agent.id)
    assert block.value == "Ana\nPlays chess"
    # The group's front door answers the same way (plain HTTP; the 1.12 SDK has no groups).
    group_id = agent.managed_group.id
    fake_llm.state.add(Reply(tool_calls=[("send_message", {"message": "Sure."})]))
    reply = await http.post(f"/v1/groups/{group_id}/messages", json={"input": "thanks"})
    assert reply.json()["messages"][0]["tool_call"]["arguments"] == '{"message": "Sure."}'
