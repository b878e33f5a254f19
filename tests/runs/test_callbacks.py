"""Completion callbacks of ``messages/async`` runs, against a receiver on loopback: Letta's
body, once per run, bounded retries, and never holding up the run or the dispatcher."""

import asyncio
from collections import deque
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import pytest
from fastapi import FastAPI
from letta_client import AsyncLetta

from tests.conftest import MODEL
from tests.fakes.callback_receiver import CallbackReceiver
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok

AppMaker = Any


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    started = await CallbackReceiver().start()
    yield started
    await started.stop()


async def _settled(app: FastAPI) -> None:
    """Every queued run has run, and every callback has been answered and recorded."""
    runtime = app.state.runtime
    await asyncio.wait_for(runtime.dispatcher.settled(), 30)
    await asyncio.wait_for(runtime.callbacks.drain(), 30)


async def test_an_async_run_calls_back_once_with_lettas_body(
    make_app: AppMaker, fake_llm: FakeLLMServer, receiver: CallbackReceiver
) -> None:
    app, client = await make_app()
    agent = await create_agent(client)
    fake_llm.state.add(Reply(text="done"))
    body = {"input": "later", "callback_url": receiver.url}
    run = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json=body))
    assert run["callback_url"] == receiver.url
    assert (run["callback_sent_at"], run["callback_status_code"], run["callback_error"]) == (
        None,
        None,
        None,
    )
    [post] = await receiver.wait_for(1)
    await _settled(app)
    done = await ok(client.get(f"/v1/runs/{run['id']}"))
    assert post["request"] == "POST /hooks/run-done HTTP/1.1"
    sent = post["body"]
    assert set(sent) == {"run_id", "status", "completed_at", "metadata"}
    assert (sent["run_id"], sent["status"], sent["completed_at"]) == (
        run["id"],
        "completed",
        done["completed_at"],
    )
    assert sent["metadata"]["run_type"] == "send_message_async"
    result = sent["metadata"]["result"]
    assert [m["message_type"] for m in result["messages"]] == ["user_message", "assistant_message"]
    assert result["messages"][1]["content"] == "done"
    assert result["stop_reason"] == {"message_type": "stop_reason", "stop_reason": "end_turn"}
    assert result["usage"]["total_tokens"] == 18
    assert done["callback_status_code"] == 200 and done["callback_error"] is None
    sent_at = datetime.fromisoformat(done["callback_sent_at"])
    assert sent_at >= datetime.fromisoformat(done["completed_at"])
    assert len(receiver.posts) == 1


async def test_failures_are_retried_a_bounded_number_of_times(
    make_app: AppMaker, fake_llm: FakeLLMServer, receiver: CallbackReceiver
) -> None:
    app, client = await make_app(callback_retry_base_seconds=0, callback_max_attempts=3)
    agent = await create_agent(client)
    receiver.statuses = deque([500, 503])
    body = {"input": "a", "callback_url": receiver.url}
    recovered = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json=body))
    await _settled(app)
    run = await ok(client.get(f"/v1/runs/{recovered['id']}"))
    assert (run["callback_status_code"], run["callback_error"]) == (200, None)
    assert len(receiver.posts) == 3

    receiver.statuses = deque([500, 502, 504])
    given_up = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json=body))
    await _settled(app)
    run = await ok(client.get(f"/v1/runs/{given_up['id']}"))
    assert run["status"] == "completed"  # the callback's failure is not the run's
    assert run["callback_status_code"] == 504
    assert run["callback_error"] == "the receiver answered HTTP 504 (after 3 attempts)"
    assert len(receiver.posts) == 6

    receiver.statuses = deque([404])
    refused = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json=body))
    await _settled(app)
    run = await ok(client.get(f"/v1/runs/{refused['id']}"))
    assert (
        run["callback_status_code"] == 404 and "HTTP 404 (after 1 attempt)" in run["callback_error"]
    )
    assert len(receiver.posts) == 7  # a 4xx is the receiver's answer: not retried


async def test_an_unreachable_receiver_is_recorded(
    make_app: AppMaker, fake_llm: FakeLLMServer
) -> None:
    app, client = await make_app(callback_retry_base_seconds=0, callback_max_attempts=2)
    agent = await create_agent(client)
    body = {"input": "a", "callback_url": "http://127.0.0.1:9/nobody"}
    run = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json=body))
    await _settled(app)
    done = await ok(client.get(f"/v1/runs/{run['id']}"))
    assert done["status"] == "completed" and done["callback_sent_at"]
    assert done["callback_status_code"] is None
    assert done["callback_error"].startswith("ConnectError")
    assert done["callback_error"].endswith("(after 2 attempts)")


async def test_a_slow_receiver_holds_up_neither_the_run_nor_the_dispatcher(
    make_app: AppMaker, fake_llm: FakeLLMServer, receiver: CallbackReceiver
) -> None:
    app, client = await make_app(worker_concurrency=1, callback_timeout_seconds=60)
    receiver.hold = asyncio.Event()
    agent, other = await create_agent(client), await create_agent(client)
    body = {"input": "a", "callback_url": receiver.url}
    first = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json=body))
    await receiver.wait_for(1)  # its callback is in flight, unanswered
    second = await ok(client.post(f"/v1/agents/{other['id']}/messages/async", json={"input": "b"}))
    await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)
    for run in (first, second):
        assert (await ok(client.get(f"/v1/runs/{run['id']}")))["status"] == "completed"
    waiting = await ok(client.get(f"/v1/runs/{first['id']}"))
    assert waiting["callback_sent_at"] and waiting["callback_status_code"] is None
    receiver.hold.set()
    await _settled(app)
    answered = await ok(client.get(f"/v1/runs/{first['id']}"))
    assert answered["callback_status_code"] == 200


async def test_a_run_cancelled_in_the_queue_calls_back(
    make_app: AppMaker, fake_llm: FakeLLMServer, receiver: CallbackReceiver
) -> None:
    app, client = await make_app(dispatcher=False)
    agent = await create_agent(client)
    body = {"input": "never", "callback_url": receiver.url}
    run = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json=body))
    assert await ok(client.post(f"/v1/runs/{run['id']}/cancel")) == {run["id"]: "cancelled"}
    [post] = await receiver.wait_for(1)
    assert (post["body"]["run_id"], post["body"]["status"]) == (run["id"], "cancelled")
    assert post["body"]["metadata"]["result"]["stop_reason"]["stop_reason"] == "cancelled"
    again = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json=body))
    cancelled = await ok(client.post(f"/v1/agents/{agent['id']}/messages/cancel", json={}))
    assert cancelled == {again["id"]: "cancelled"}
    await receiver.wait_for(2)
    await asyncio.wait_for(app.state.runtime.callbacks.drain(), 30)
    assert [p["body"]["run_id"] for p in receiver.posts] == [run["id"], again["id"]]
    assert fake_llm.state.chat_requests == []


@pytest.mark.parametrize("url", ["ftp://example.com/x", "not a url", "http://", 3])
async def test_a_bad_callback_url_is_422(make_app: AppMaker, url: object) -> None:
    _app, client = await make_app()
    agent = await create_agent(client)
    response = await client.post(
        f"/v1/agents/{agent['id']}/messages/async", json={"input": "a", "callback_url": url}
    )
    assert response.status_code == 422, response.text
    assert "callback_url" in response.text
    assert await ok(client.get("/v1/runs/")) == []


async def test_the_sdk_sets_and_reads_the_callback(
    make_app: AppMaker, fake_llm: FakeLLMServer, receiver: CallbackReceiver
) -> None:
    app, http = await make_app()
    sdk = AsyncLetta(base_url="http://testserver", http_client=http, max_retries=0)
    agent = await sdk.agents.create(model=MODEL)
    run = await sdk.agents.messages.create_async(
        agent.id, messages=[{"role": "user", "content": "hi"}], callback_url=receiver.url
    )
    await _settled(app)
    done = await sdk.runs.retrieve(run.id)
    assert done.callback_url == receiver.url
    assert done.callback_status_code == 200 and done.callback_sent_at is not None
    assert receiver.posts[0]["body"]["run_id"] == run.id
