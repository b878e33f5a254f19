"""A turn on another model (override_model), structured output (response_format) and
duplicate tool rules, through the HTTP app, the SDK and the loopback model."""

from typing import Any

import httpx
import pytest
from letta_client import AsyncLetta, BadRequestError

from app.providers import anthropic, openai
from app.providers.base import LLMRequest
from tests.conftest import MODEL, AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok

SCHEMA = {
    "type": "json_schema",
    "json_schema": {
        "name": "verdict",
        "schema": {
            "type": "object",
            "properties": {"rank": {"type": "integer"}},
            "required": ["rank"],
        },
        "strict": True,
    },
}


async def runs_of(client: httpx.AsyncClient, agent_id: str) -> list[dict[str, Any]]:
    return await ok(client.get("/v1/runs/", params={"agent_id": agent_id}))  # type: ignore[no-any-return]


async def test_override_model_runs_one_turn_on_another_model(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    url = f"/v1/agents/{agent['id']}/messages"
    fake_llm.state.add(Reply(text="from 4.1"), Reply(text="from the agent's own"))
    response = await ok(client.post(url, json={"input": "hi", "override_model": "openai/gpt-4.1"}))
    assert fake_llm.state.chat_requests[-1]["model"] == "gpt-4.1"
    steps = await ok(client.get(f"/v1/runs/{response['messages'][0]['run_id']}/steps"))
    assert steps[0]["model"] == "gpt-4.1"
    assert (await ok(client.get(f"/v1/agents/{agent['id']}")))["model"] == MODEL
    await ok(client.post(url, json={"input": "again"}))
    assert fake_llm.state.chat_requests[-1]["model"] == "gpt-4o-mini"


@pytest.mark.parametrize(
    ("handle", "named"),
    [("openai/nope", "'nope'"), ("elsewhere/model", "'elsewhere'"), ("no-slash", "no-slash")],
)
async def test_an_unknown_override_model_is_refused_before_the_run(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, handle: str, named: str
) -> None:
    agent = await create_agent(client)
    body = {"input": "hi", "override_model": handle}
    for route in ("messages", "messages/stream", "messages/async"):
        response = await client.post(f"/v1/agents/{agent['id']}/{route}", json=body)
        assert response.status_code == 400, (route, response.text)
        detail = response.json()["detail"]
        assert detail.startswith("override_model:") and named in detail
    streamed = await client.post(
        f"/v1/agents/{agent['id']}/messages", json={**body, "streaming": True}
    )
    assert streamed.status_code == 400
    assert await runs_of(client, agent["id"]) == []
    assert fake_llm.state.chat_requests == []


async def test_override_model_with_the_sdk(
    make_client: AppFactory, fake_llm: FakeLLMServer
) -> None:
    sdk = AsyncLetta(base_url="http://testserver", http_client=await make_client(), max_retries=0)
    agent = await sdk.agents.create(model=MODEL)
    fake_llm.state.add(Reply(text="ok"))
    await sdk.agents.messages.create(agent.id, input="hi", override_model="openai/gpt-4.1")
    assert fake_llm.state.chat_requests[-1]["model"] == "gpt-4.1"
    with pytest.raises(BadRequestError, match="override_model"):
        await sdk.agents.messages.create(agent.id, input="hi", override_model="openai/other")


async def test_response_format_is_kept_shown_and_sent(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, agent_type="memgpt_v2_agent", response_format=SCHEMA)
    assert agent["response_format"] == SCHEMA
    fake_llm.state.add(Reply(tool_calls=[("send_message", {"message": {"rank": 1}})]))
    response = await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "?"}))
    assert response["messages"][0]["content"] == '{"rank": 1}'
    sent = fake_llm.state.chat_requests[-1]
    assert sent["response_format"] == SCHEMA
    [send] = [t["function"] for t in sent["tools"] if t["function"]["name"] == "send_message"]
    assert send["parameters"]["properties"]["message"] == SCHEMA["json_schema"]["schema"]
    path = f"/v1/agents/{agent['id']}"
    patched = await ok(client.patch(path, json={"response_format": {"type": "json_object"}}))
    assert patched["response_format"] == {"type": "json_object"}
    text = await ok(client.patch(path, json={"response_format": {"type": "text"}}))
    assert text["response_format"] == {"type": "text"}
    fake_llm.state.add(Reply(tool_calls=[("send_message", {"message": "plain"})]))
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "?"}))
    assert "response_format" not in fake_llm.state.chat_requests[-1]
    cleared = await ok(client.patch(path, json={"response_format": None}))
    assert cleared["response_format"] is None
    untouched = await ok(client.patch(path, json={"description": "d"}))
    assert untouched["response_format"] is None


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "json_schema"},
        {"type": "json_schema", "json_schema": {"name": "x"}},
        {"type": "json_schema", "json_schema": {"schema": {}}},
        {"type": "yaml"},
    ],
)
async def test_a_malformed_response_format_is_a_422(client: httpx.AsyncClient, bad: Any) -> None:
    response = await client.post("/v1/agents/", json={"model": MODEL, "response_format": bad})
    assert response.status_code == 422, response.text
    assert "response_format" in response.text
    assert await ok(client.get("/v1/agents/")) == []


async def test_the_sdk_sets_a_response_format(make_client: AppFactory) -> None:
    sdk = AsyncLetta(base_url="http://testserver", http_client=await make_client(), max_retries=0)
    agent = await sdk.agents.create(model=MODEL, response_format=SCHEMA)  # type: ignore[arg-type]
    assert agent.response_format is not None
    assert agent.response_format.type == "json_schema"
    updated = await sdk.agents.update(agent.id, response_format={"type": "json_object"})
    assert updated.response_format is not None and updated.response_format.type == "json_object"


async def test_duplicate_tool_rules_are_dropped(client: httpx.AsyncClient) -> None:
    rule = {"tool_name": "conversation_search", "type": "continue_loop"}
    other = {"tool_name": "conversation_search", "type": "max_count_per_step", "max_count_limit": 2}
    agent = await create_agent(client, tool_rules=[rule, rule, other, dict(other), rule])
    assert agent["tool_rules"] == [rule, other]
    third = {**other, "max_count_limit": 3}  # differs in an extra field: kept
    patched = await ok(
        client.patch(f"/v1/agents/{agent['id']}", json={"tool_rules": [other, third, other]})
    )
    assert patched["tool_rules"] == [other, third]


def test_request_options_on_the_wire() -> None:
    request = LLMRequest(
        model="m",
        messages=[{"role": "user", "content": "hi"}],
        tools=[{"name": "t", "parameters": {"type": "object", "properties": {}}}],
        tool_choice="required",
        response_format=SCHEMA,
    )
    body = openai.build_body(request, stream=False)
    assert body["tool_choice"] == "required" and body["response_format"] == SCHEMA
    # Anthropic's Messages API has no response_format; a required call is tool_choice "any".
    body = anthropic.build_body(request, stream=False)
    assert body["tool_choice"] == {"type": "any"} and "response_format" not in body
    bare = openai.build_body(
        LLMRequest(model="m", messages=[], tool_choice="required"), stream=True
    )
    assert "tool_choice" not in bare and "response_format" not in bare
