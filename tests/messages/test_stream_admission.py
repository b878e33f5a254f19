"""A turn that cannot start is an HTTP error on the streaming routes too, decided before the
response starts: 409 ``AGENT_BUSY`` / ``PENDING_APPROVAL``, never a 200 carrying the error."""

import asyncio
import threading

import httpx

from tests.conftest import AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok
from tests.messages.test_approvals import _paused
from tests.messages.test_turns import send


async def _stream(client: httpx.AsyncClient, agent_id: str, text: str) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": text}]}
    return await client.post(f"/v1/agents/{agent_id}/messages/stream", json=body)


async def test_busy_agent_with_reject_is_409_before_the_stream(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    release = threading.Event()
    fake_llm.state.add(Reply(text="first", hold=release), Reply(text="after"))
    first = asyncio.create_task(send(client, agent["id"], "one"))
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 1)
    for path in ("/messages/stream", "/messages"):
        body = {"input": "two", "multitask_strategy": "reject", "streaming": True}
        rejected = await client.post(f"/v1/agents/{agent['id']}{path}", json=body)
        assert rejected.status_code == 409, rejected.text
        assert rejected.headers["content-type"].startswith("application/json")
        assert rejected.json()["detail"]["code"] == "AGENT_BUSY"
    release.set()
    assert (await first).status_code == 200
    streamed = await _stream(client, agent["id"], "three")  # free again: streams
    assert streamed.status_code == 200


async def test_enqueue_timeout_on_a_stream_is_409(
    make_client: AppFactory, fake_llm: FakeLLMServer
) -> None:
    client = await make_client(turn_wait_seconds=0.1)
    agent = await create_agent(client)
    release = threading.Event()
    fake_llm.state.add(Reply(text="slow", hold=release))
    first = asyncio.create_task(send(client, agent["id"], "one"))
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 1)
    waited = await _stream(client, agent["id"], "two")
    assert waited.status_code == 409
    assert waited.json()["detail"]["code"] == "AGENT_BUSY"
    release.set()
    assert (await first).status_code == 200


async def test_pending_approval_on_a_stream_is_409(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent_id, _, request = await _paused(client, fake_llm)
    blocked = await _stream(client, agent_id, "hello?")
    assert blocked.status_code == 409
    detail = blocked.json()["detail"]
    assert detail["code"] == "PENDING_APPROVAL" and detail["pending_request_id"] == request["id"]
    runs = await ok(client.get("/v1/runs/", params={"agent_id": agent_id}))
    assert len(runs) == 1  # nothing was accepted
