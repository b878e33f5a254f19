"""A turn the model provider fails: the JSON paths answer an HTTP error the SDK raises, the
run records the failure, the turn's stored messages stay, the agent is free; streams and
async runs keep their own way of saying it."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from letta_client import (
    APIStatusError,
    AsyncLetta,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
)

from tests.conftest import MODEL, AppAndClient, AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok
from tests.messages.test_faults_and_admission import assert_turn_failed
from tests.messages.test_turns import send, types

BAD_KEY = Reply(status=401, error_body={"error": {"message": "Incorrect API key provided"}})
AppMaker = Callable[..., Awaitable[AppAndClient]]


async def _runs(client: httpx.AsyncClient, agent_id: str) -> list[dict[str, Any]]:
    return await ok(client.get("/v1/runs/", params={"agent_id": agent_id}))  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("replies", "error", "status"),
    [
        ([BAD_KEY], AuthenticationError, 401),
        ([Reply(status=429)] * 4, RateLimitError, 429),
        ([Reply(status=400, error_body={"error": {"message": "bad"}})], BadRequestError, 400),
        ([Reply(status=500)] * 4, InternalServerError, 502),
    ],
)
async def test_the_sdk_raises_and_does_not_retry(
    make_client: AppFactory,
    fake_llm: FakeLLMServer,
    replies: list[Reply],
    error: type[APIStatusError],
    status: int,
) -> None:
    http = await make_client()
    # The SDK's default retry policy: 429 and 5xx would be retried, were it not told not to.
    sdk = AsyncLetta(base_url="http://testserver", http_client=http)
    agent = await sdk.agents.create(model=MODEL)
    fake_llm.state.add(*replies)
    with pytest.raises(error) as raised:
        await sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == status
    [run] = await _runs(http, agent.id)
    assert isinstance(raised.value.body, dict) and raised.value.body["run_id"] == run["id"]
    assert (run["status"], run["stop_reason"]) == ("failed", "llm_api_error")
    assert run["error"]["type"] == raised.value.body["error"]["type"]


async def test_the_sdk_raises_on_a_provider_timeout(
    make_client: AppFactory, fake_llm: FakeLLMServer
) -> None:
    http = await make_client(provider_timeout_seconds=0.2, provider_max_retries=0)
    sdk = AsyncLetta(base_url="http://testserver", http_client=http)
    agent = await sdk.agents.create(model=MODEL)
    fake_llm.state.add(Reply(text="too late", delay=2.0))
    with pytest.raises(InternalServerError) as raised:
        await sdk.agents.messages.create(agent.id, messages=[{"role": "user", "content": "hi"}])
    assert raised.value.status_code == 504
    assert len(await _runs(http, agent.id)) == 1


async def test_a_failure_after_a_step_keeps_what_the_turn_stored(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    fake_llm.state.add(Reply(tool_calls=[("conversation_search", {"query": "tea"})]), BAD_KEY)
    response = await send(client, agent["id"], "what did I say about tea?")
    assert response.status_code == 401
    [run] = await _runs(client, agent["id"])
    assert_turn_failed(response, run["id"], "llm_authentication")
    assert "Incorrect API key provided" in response.json()["detail"]
    stored = await ok(client.get(f"/v1/runs/{run['id']}/messages"))
    assert types(stored) == ["user_message", "tool_call_message", "tool_return_message"]
    steps = await ok(client.get(f"/v1/runs/{run['id']}/steps", params={"order": "asc"}))
    assert [s["status"] for s in steps] == ["success", "failed"]
    agent_state = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert agent_state["last_stop_reason"] == "llm_api_error"
    after = await ok(send(client, agent["id"], "again"))
    assert after["stop_reason"]["stop_reason"] == "end_turn"
    history = await ok(client.get(f"/v1/agents/{agent['id']}/messages", params={"limit": 50}))
    users = [m["content"] for m in history if m["message_type"] == "user_message"]
    assert users == ["what did I say about tea?", "again"]


async def test_a_replayed_request_answers_the_same_error(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    fake_llm.state.add(BAD_KEY)
    body = {"messages": [{"role": "user", "content": "once"}]}
    headers = {"Idempotency-Key": "failing-1"}
    path = f"/v1/agents/{agent['id']}/messages"
    first = await client.post(path, json=body, headers=headers)
    again = await client.post(path, json=body, headers=headers)
    assert first.status_code == again.status_code == 401
    assert again.json() == first.json()
    assert len(fake_llm.state.chat_requests) == 1
    assert len(await _runs(client, agent["id"])) == 1


async def test_a_group_turn_raises_the_same(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    primary = await create_agent(client, enable_sleeptime=True)
    fake_llm.state.add(Reply(status=429), Reply(status=429), Reply(status=429), Reply(status=429))
    group_id = primary["managed_group"]["id"]
    response = await client.post(f"/v1/groups/{group_id}/messages", json={"input": "hi"})
    assert response.status_code == 429
    [run] = await _runs(client, primary["id"])
    assert_turn_failed(response, run["id"], "llm_rate_limit")
    assert run["group_id"] == group_id and run["status"] == "failed"


async def test_streams_and_async_runs_are_not_http_errors(
    make_app: AppMaker, fake_llm: FakeLLMServer
) -> None:
    app, client = await make_app()
    agent = await create_agent(client)
    fake_llm.state.add(BAD_KEY)
    body = {"input": "hi", "streaming": True}
    async with client.stream("POST", f"/v1/agents/{agent['id']}/messages", json=body) as stream:
        assert stream.status_code == 200
        text = (await stream.aread()).decode()
    assert "event: error" in text and "llm_authentication" in text
    fake_llm.state.add(BAD_KEY)
    queued = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": "x"}))
    await _settle(app)
    run = await ok(client.get(f"/v1/runs/{queued['id']}"))
    assert (run["status"], run["stop_reason"]) == ("failed", "llm_api_error")
    assert run["error"]["type"] == "llm_authentication"
    assert "Incorrect API key provided" in run["error"]["message"]


async def _settle(app: FastAPI) -> None:
    await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)
