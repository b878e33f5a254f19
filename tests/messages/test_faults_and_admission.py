"""Provider faults end in the right stop reason with a terminal run; one turn at a time per
agent; Idempotency-Key; bad input."""

import asyncio
import threading
from typing import Any

import httpx
import pytest

from tests.conftest import AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, history, ok
from tests.messages.test_turns import send


async def _last_run(client: httpx.AsyncClient, agent_id: str) -> dict[str, Any]:
    runs = await ok(client.get("/v1/runs/", params={"agent_id": agent_id, "limit": 1}))
    return runs[0]  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("replies", "status", "stop_reason", "error_type"),
    [
        ([Reply(status=500)] * 4, 502, "llm_api_error", "llm_error"),
        ([Reply(status=503), Reply(text="recovered")], 200, "end_turn", None),
        (
            [Reply(status=401, error_body={"error": {"message": "bad key"}})],
            401,
            "llm_api_error",
            "llm_authentication",
        ),
        ([Reply(status=429)] * 4, 429, "llm_api_error", "llm_rate_limit"),
        (
            [
                Reply(
                    status=400,
                    error_body={
                        "error": {
                            "message": "This model's maximum context length is 10 tokens",
                            "code": "context_length_exceeded",
                        }
                    },
                )
            ],
            400,
            "llm_api_error",
            "llm_context_window_exceeded",
        ),
        (
            [Reply(status=400, error_body={"error": {"message": "bad tool schema"}})],
            400,
            "llm_api_error",
            "llm_bad_request",
        ),
        ([Reply(raw_body="{not json")], 502, "invalid_llm_response", "llm_empty_response"),
        ([Reply(text=None)], 502, "invalid_llm_response", "llm_empty_response"),
    ],
)
async def test_provider_faults(
    client: httpx.AsyncClient,
    fake_llm: FakeLLMServer,
    replies: list[Reply],
    status: int,
    stop_reason: str,
    error_type: str | None,
) -> None:
    agent = await create_agent(client)
    fake_llm.state.add(*replies)
    response = await send(client, agent["id"], "hi")
    assert response.status_code == status, response.text
    run = await _last_run(client, agent["id"])
    assert run["stop_reason"] == stop_reason
    assert run["status"] == ("completed" if stop_reason == "end_turn" else "failed")
    assert run["completed_at"] is not None
    if error_type is not None:
        assert_turn_failed(response, run["id"], error_type)
        assert run["error"]["type"] == error_type
        steps = await ok(client.get(f"/v1/runs/{run['id']}/steps"))
        assert steps[0]["status"] == "failed" and steps[0]["error_type"] == error_type
    fake_llm.state.script.clear()
    after = await ok(send(client, agent["id"], "again"))
    assert after["stop_reason"]["stop_reason"] == "end_turn"


def assert_turn_failed(response: httpx.Response, run_id: str, error_type: str) -> None:
    """Letta's LLM-error body next to our ``detail``, naming the run; never retried."""
    body = response.json()
    assert body["run_id"] == run_id and run_id in body["detail"]
    assert body["error"]["type"] == error_type
    assert body["error"]["message"] and body["error"]["detail"] in body["detail"]
    assert response.headers["x-should-retry"] == "false"
    assert response.headers["x-request-id"]


async def test_provider_timeout(make_client: AppFactory, fake_llm: FakeLLMServer) -> None:
    client = await make_client(provider_timeout_seconds=0.2, provider_max_retries=0)
    agent = await create_agent(client)
    fake_llm.state.add(Reply(text="too late", delay=2.0))
    response = await send(client, agent["id"], "hi")
    assert response.status_code == 504
    run = await _last_run(client, agent["id"])
    assert run["status"] == "failed" and run["error"]["type"] == "llm_timeout"
    assert_turn_failed(response, run["id"], "llm_timeout")


async def test_unreachable_provider(make_client: AppFactory, fake_llm: FakeLLMServer) -> None:
    client = await make_client(openai_base_url="http://127.0.0.1:9/v1", provider_max_retries=1)
    agent = await create_agent(client)
    response = await send(client, agent["id"], "hi")
    assert response.status_code == 502
    run = await _last_run(client, agent["id"])
    assert run["status"] == "failed" and run["stop_reason"] == "llm_api_error"
    assert_turn_failed(response, run["id"], "llm_error")


async def test_one_turn_at_a_time(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await create_agent(client)
    release = threading.Event()
    fake_llm.state.add(Reply(text="first", hold=release), Reply(text="second"))
    first = asyncio.create_task(send(client, agent["id"], "one"))
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 1)
    rejected = await send(client, agent["id"], "two", multitask_strategy="reject")
    assert rejected.status_code == 409
    assert rejected.json()["detail"]["code"] == "AGENT_BUSY"
    queued = asyncio.create_task(send(client, agent["id"], "three"))
    release.set()
    assert (await first).json()["messages"][0]["content"] == "first"
    assert (await queued).json()["messages"][0]["content"] == "second"
    listed = await history(client, agent["id"])
    assert [m.get("content") for m in listed] == ["one", "first", "three", "second"]


async def test_enqueue_wait_is_bounded(make_client: AppFactory, fake_llm: FakeLLMServer) -> None:
    client = await make_client(turn_wait_seconds=0.1)
    agent = await create_agent(client)
    release = threading.Event()
    fake_llm.state.add(Reply(text="slow", hold=release))
    first = asyncio.create_task(send(client, agent["id"], "one"))
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 1)
    waited = await send(client, agent["id"], "two")
    assert waited.status_code == 409 and waited.json()["detail"]["code"] == "AGENT_BUSY"
    release.set()
    assert (await first).status_code == 200


async def test_idempotency_key(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await create_agent(client)
    body = {"messages": [{"role": "user", "content": "once"}]}
    headers = {"Idempotency-Key": "k-1"}
    first = await ok(client.post(f"/v1/agents/{agent['id']}/messages", json=body, headers=headers))
    again = await ok(client.post(f"/v1/agents/{agent['id']}/messages", json=body, headers=headers))
    assert again == first
    assert len(fake_llm.state.chat_requests) == 1
    other = await client.post(
        f"/v1/agents/{agent['id']}/messages", json={"input": "different"}, headers=headers
    )
    assert other.status_code == 409
    runs = await ok(client.get("/v1/runs/", params={"agent_id": agent["id"]}))
    assert len(runs) == 1


async def test_concurrent_idempotent_requests_run_once(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    body = {"messages": [{"role": "user", "content": "once"}]}
    headers = {"Idempotency-Key": "k-2"}
    responses = await asyncio.gather(
        *(
            client.post(f"/v1/agents/{agent['id']}/messages", json=body, headers=headers)
            for _ in range(3)
        )
    )
    assert [r.status_code for r in responses] == [200, 200, 200]
    first = responses[0].json()
    assert all(r.json() == first for r in responses[1:])
    assert len(fake_llm.state.chat_requests) == 1


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 422),
        ({"messages": []}, 422),
        ({"messages": [{"role": "user", "content": "a"}], "input": "b"}, 422),
        ({"messages": [{"role": "robot", "content": "a"}]}, 422),
        ({"messages": [{"role": "user"}]}, 422),
        ({"messages": [{"type": "nonsense"}]}, 422),
        ({"input": "x", "max_steps": 0}, 422),
        ({"input": "x", "client_tools": [{"name": "has space"}]}, 422),
        ({"input": "x", "include_return_message_types": ["bogus"]}, 422),
        ({"input": "x", "stream_tokens": True}, 422),
        ({"input": "x", "background": True}, 422),
        ({"input": "x", "multitask_strategy": "interrupt"}, 422),
    ],
)
async def test_bad_requests(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, body: dict[str, Any], status: int
) -> None:
    agent = await create_agent(client)
    response = await client.post(f"/v1/agents/{agent['id']}/messages", json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert await history(client, agent["id"]) == []
    assert await ok(client.get("/v1/runs/")) == []
    assert fake_llm.state.chat_requests == []


async def test_unknown_agent_and_bad_ids(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    missing = "agent-00000000-0000-4000-8000-000000000000"
    assert (
        await client.post(f"/v1/agents/{missing}/messages", json={"input": "x"})
    ).status_code == 404
    assert (await client.post("/v1/agents/nope/messages", json={"input": "x"})).status_code == 422
    assert (await client.get(f"/v1/agents/{missing}/messages")).status_code == 404
    assert (
        await client.get("/v1/runs/run-00000000-0000-4000-8000-000000000000")
    ).status_code == 404
    assert (await client.get("/v1/runs/not-a-run")).status_code == 422
    assert (await client.get("/v1/runs/", params={"statuses": ["sleeping"]})).status_code == 422
    assert fake_llm.state.chat_requests == []
