"""SSE against a real uvicorn server, read with a streaming HTTP client."""

import asyncio
import json
import threading
from typing import Any

import httpx
import pytest
from letta_client import AsyncLetta

from tests.conftest import MODEL
from tests.fakes.llm_server import FakeLLMServer, Reply

WEATHER = {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}


async def sse(response: httpx.Response) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) per event; ``[DONE]`` as the string. Keepalive pings (every
    0.5 s here) come whenever a busy machine is slow to answer, so only the first event may be
    a ping: the one that announces the run."""
    events: list[tuple[str | None, Any]] = []
    name: str | None = None
    async for line in response.aiter_lines():
        if line.startswith("event:"):
            name = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            data = line.split(":", 1)[1].strip()
            parsed = data if data == "[DONE]" else json.loads(data)
            if not (events and isinstance(parsed, dict) and parsed["message_type"] == "ping"):
                events.append((name, parsed))
            name = None
    return events


def kinds(events: list[tuple[str | None, Any]]) -> list[str]:
    return [e if isinstance(e, str) else e["message_type"] for _, e in events]


async def agent(http: httpx.AsyncClient, **body: Any) -> str:
    response = await http.post("/v1/agents/", json={"model": MODEL, **body})
    return str(response.json()["id"])


async def test_chunk_order_and_shapes(http: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent_id = await agent(http)
    fake_llm.state.add(
        Reply(tool_calls=[("conversation_search", {"query": "x"})]), Reply(text="Hello!")
    )
    async with http.stream(
        "POST", f"/v1/agents/{agent_id}/messages/stream", json={"input": "hi"}
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert response.headers["x-accel-buffering"] == "no"
        events = await sse(response)
    assert kinds(events) == [
        "ping",
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
        "stop_reason",
        "usage_statistics",
        "[DONE]",
    ]
    run_id = events[0][1]["run_id"]
    assert run_id.startswith("run-")
    seqs = [e["seq_id"] for _, e in events[1:-1]]
    assert seqs == list(range(1, 6))
    assert all(e["run_id"] == run_id for _, e in events[1:-1])
    assert events[3][1]["content"] == "Hello!"
    assert events[4][1]["stop_reason"] == "end_turn"
    assert events[5][1]["step_count"] == 2
    json_path = (await http.get(f"/v1/runs/{run_id}/messages")).json()
    streamed = [e for _, e in events[1:4]]
    assert [m["id"] for m in json_path[1:]] == [m["id"] for m in streamed]


async def test_streaming_flag_on_the_messages_route(
    http: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent_id = await agent(http)
    async with http.stream(
        "POST",
        f"/v1/agents/{agent_id}/messages",
        json={"input": "hi", "streaming": True, "include_pings": False},
    ) as r:
        events = await sse(r)
    assert kinds(events) == ["assistant_message", "stop_reason", "usage_statistics", "[DONE]"]


async def test_client_tool_pause_while_streaming(
    http: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent_id = await agent(http)
    fake_llm.state.add(Reply(tool_calls=[("get_weather", {})]))
    async with http.stream(
        "POST",
        f"/v1/agents/{agent_id}/messages/stream",
        json={"input": "weather?", "client_tools": [WEATHER]},
    ) as r:
        events = await sse(r)
    assert kinds(events)[1:] == [
        "approval_request_message",
        "stop_reason",
        "usage_statistics",
        "[DONE]",
    ]
    assert events[2][1]["stop_reason"] == "requires_approval"
    call_id = events[1][1]["tool_call"]["tool_call_id"]
    fake_llm.state.add(Reply(text="sunny"))
    body = {
        "messages": [
            {
                "type": "tool_return",
                "tool_returns": [
                    {
                        "type": "tool",
                        "tool_call_id": call_id,
                        "tool_return": "21C",
                        "status": "success",
                    }
                ],
            }
        ]
    }
    async with http.stream("POST", f"/v1/agents/{agent_id}/messages/stream", json=body) as r:
        resumed = await sse(r)
    assert kinds(resumed)[1:3] == ["tool_return_message", "assistant_message"]


async def test_error_mid_stream(http: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent_id = await agent(http)
    fake_llm.state.add(Reply(status=500))
    async with http.stream(
        "POST", f"/v1/agents/{agent_id}/messages/stream", json={"input": "hi"}
    ) as r:
        assert r.status_code == 200
        events = await sse(r)
    assert kinds(events) == ["ping", "stop_reason", "error_message", "[DONE]"]
    assert events[1][1]["stop_reason"] == "llm_api_error"
    name, error = events[2]
    assert name == "error" and error["error_type"] == "llm_error"


async def test_disconnect_does_not_stop_the_turn(
    http: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent_id = await agent(http)
    hold = threading.Event()
    fake_llm.state.add(Reply(text="finished anyway", hold=hold))
    async with http.stream(
        "POST", f"/v1/agents/{agent_id}/messages/stream", json={"input": "hi"}
    ) as r:
        async for line in r.aiter_lines():
            if line.startswith("data:"):
                run_id = json.loads(line[5:])["run_id"]
                break
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 1)
    hold.set()
    run = (await http.get(f"/v1/runs/{run_id}", params={"wait": 20})).json()
    assert (run["status"], run["stop_reason"]) == ("completed", "end_turn")
    messages = (await http.get(f"/v1/agents/{agent_id}/messages")).json()
    assert messages[-1]["content"] == "finished anyway"


async def test_resume_from_a_cursor_and_follow_live(
    http: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent_id = await agent(http)
    hold = threading.Event()
    fake_llm.state.add(
        Reply(tool_calls=[("conversation_search", {})]), Reply(text="done", hold=hold)
    )
    first = asyncio.create_task(http.post(f"/v1/agents/{agent_id}/messages", json={"input": "go"}))
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 2)
    [run] = (await http.get("/v1/runs/", params={"agent_id": agent_id})).json()

    async def follow(after: int) -> list[tuple[str | None, Any]]:
        async with http.stream(
            "GET",
            f"/v1/runs/{run['id']}/stream",
            params={"starting_after": after, "include_pings": False},
        ) as r:
            return await sse(r)

    watchers = [asyncio.create_task(follow(0)), asyncio.create_task(follow(1))]
    hold.set()
    from_start, from_one = await asyncio.gather(*watchers)
    await first
    assert kinds(from_start) == [
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
        "stop_reason",
        "usage_statistics",
        "[DONE]",
    ]
    assert kinds(from_one) == kinds(from_start)[1:]
    again = await follow(3)
    assert kinds(again) == ["stop_reason", "usage_statistics", "[DONE]"]
    post = await http.post(f"/v1/runs/{run['id']}/stream", json={"starting_after": 5})
    assert post.text.strip().endswith("data: [DONE]")


async def test_resume_errors(http: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    missing = await http.get("/v1/runs/run-00000000-0000-4000-8000-000000000000/stream")
    assert missing.status_code == 404
    assert (await http.get("/v1/runs/nope/stream")).status_code == 422


async def test_background_stream(http: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent_id = await agent(http)
    async with http.stream(
        "POST", f"/v1/agents/{agent_id}/messages/stream", json={"input": "bg", "background": True}
    ) as r:
        events = await sse(r)
    assert kinds(events) == [
        "ping",
        "assistant_message",
        "stop_reason",
        "usage_statistics",
        "[DONE]",
    ]
    run = (await http.get(f"/v1/runs/{events[0][1]['run_id']}")).json()
    assert run["kind"] == "async" and run["status"] == "completed"


async def test_idempotency_key_reattaches(http: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent_id = await agent(http)
    headers = {"Idempotency-Key": "stream-1"}
    async with http.stream(
        "POST", f"/v1/agents/{agent_id}/messages/stream", json={"input": "once"}, headers=headers
    ) as r:
        first = await sse(r)
    async with http.stream(
        "POST", f"/v1/agents/{agent_id}/messages/stream", json={"input": "once"}, headers=headers
    ) as r:
        second = await sse(r)
    assert first[0][1]["run_id"] == second[0][1]["run_id"]
    assert kinds(first) == kinds(second)
    assert len(fake_llm.state.chat_requests) == 1


async def test_cancel_during_a_stream(http: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent_id = await agent(http)
    hold = threading.Event()
    fake_llm.state.add(Reply(text="never", hold=hold))
    async with http.stream(
        "POST", f"/v1/agents/{agent_id}/messages/stream", json={"input": "x"}
    ) as r:
        lines = r.aiter_lines()
        async for line in lines:
            if line.startswith("data:"):
                break
        await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 1)
        await http.post(f"/v1/agents/{agent_id}/messages/cancel", json={})
        rest = [line async for line in lines if line.startswith("data:")]
    hold.set()
    assert json.loads(rest[0][5:])["stop_reason"] == "cancelled"
    assert rest[-1] == "data: [DONE]"


async def test_many_concurrent_streams(http: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agents = [await agent(http) for _ in range(10)]

    async def one(agent_id: str) -> list[str]:
        async with http.stream(
            "POST", f"/v1/agents/{agent_id}/messages/stream", json={"input": agent_id}
        ) as r:
            return kinds(await sse(r))

    results = await asyncio.gather(*(one(a) for a in agents))
    assert all(
        r == ["ping", "assistant_message", "stop_reason", "usage_statistics", "[DONE]"]
        for r in results
    )


def reassemble(events: list[tuple[str | None, Any]]) -> list[dict[str, Any]]:
    """Join token chunks the way clients do: by (message_type, otid)."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    for _, event in events:
        if isinstance(event, str) or event["message_type"] in (
            "ping",
            "stop_reason",
            "usage_statistics",
        ):
            continue
        key = (event["message_type"], event["otid"])
        seen = merged.setdefault(key, {**event, "content": "", "args": ""})
        seen["content"] += event.get("content") or ""
        call = event.get("tool_call") or {}
        seen["args"] += call.get("arguments") or ""
        seen["name"] = call.get("name") or seen.get("name")
    return list(merged.values())


async def test_token_streaming(http: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent_id = await agent(http, memory_blocks=[{"label": "human", "value": "Ana"}])
    fake_llm.state.add(
        Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "Likes long walks"})]),
        Reply(text="Noted, you like long walks on the beach."),
    )
    async with http.stream(
        "POST",
        f"/v1/agents/{agent_id}/messages/stream",
        json={"input": "I like walks", "stream_tokens": True},
    ) as r:
        events = await sse(r)
    assert fake_llm.state.chat_requests[-1]["stream"] is True
    chunks = [
        e for _, e in events if not isinstance(e, str) and e["message_type"] == "assistant_message"
    ]
    assert len(chunks) > 3 and len({(c["id"], c["otid"]) for c in chunks}) == 1
    whole = reassemble(events)
    assert [m["message_type"] for m in whole] == [
        "tool_call_message",
        "tool_return_message",
        "assistant_message",
    ]
    assert json.loads(whole[0]["args"]) == {"label": "human", "new_string": "Likes long walks"}
    assert whole[2]["content"] == "Noted, you like long walks on the beach."
    run_id = events[0][1]["run_id"]
    stored = (await http.get(f"/v1/runs/{run_id}/messages")).json()
    assert [m["message_type"] for m in stored[1:]] == [m["message_type"] for m in whole]
    assert stored[-1]["content"] == whole[2]["content"] and stored[-1]["id"] == whole[2]["id"]
    assert stored[1]["otid"] == whole[0]["otid"]
    assert kinds(events)[-3:] == ["stop_reason", "usage_statistics", "[DONE]"]


async def test_the_sdk_parses_our_streams(
    http: httpx.AsyncClient, server: str, fake_llm: FakeLLMServer
) -> None:
    sdk = AsyncLetta(base_url=server, max_retries=0)
    agent_id = await agent(http)
    fake_llm.state.add(Reply(text="first"), Reply(text="second"))
    stream = await sdk.agents.messages.create(
        agent_id, messages=[{"role": "user", "content": "hi"}], streaming=True
    )
    seen = [chunk.message_type async for chunk in stream]
    # The opening ping, then the turn; keepalive pings (every 0.5 s here) may fall in between
    # on a busy machine.
    assert seen[0] == "ping"
    turn = [kind for kind in seen[1:] if kind != "ping"]
    assert turn == ["assistant_message", "stop_reason", "usage_statistics"]
    with pytest.deprecated_call():  # the SDK marks /messages/stream deprecated, as Letta does
        stream = await sdk.agents.messages.stream(
            agent_id, messages=[{"role": "user", "content": "again"}], stream_tokens=True
        )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.content for c in chunks if c.message_type == "assistant_message")
    assert text == "second"
    assert chunks[-1].message_type == "usage_statistics"


async def test_keepalive_pings_while_the_model_thinks(
    http: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent_id = await agent(http)
    hold = threading.Event()
    fake_llm.state.add(Reply(text="slow", hold=hold))
    pings = 0
    async with http.stream(
        "POST", f"/v1/agents/{agent_id}/messages/stream", json={"input": "hi"}
    ) as r:
        async for line in r.aiter_lines():
            if line.startswith("data:") and '"message_type":"ping"' in line:
                pings += 1
                if pings == 3:  # the first, then keepalives every 0.5 s here
                    hold.set()
            if line == "data: [DONE]":
                break
    assert pings >= 3


async def test_a_turn_that_cannot_start_is_refused_before_the_stream(
    http: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent_id = await agent(http)
    fake_llm.state.add(Reply(tool_calls=[("get_weather", {})]))
    await http.post(
        f"/v1/agents/{agent_id}/messages", json={"input": "?", "client_tools": [WEATHER]}
    )
    refused = await http.post(f"/v1/agents/{agent_id}/messages/stream", json={"input": "hi"})
    assert refused.status_code == 409
    detail = refused.json()["detail"]
    assert detail["code"] == "PENDING_APPROVAL" and detail["pending_request_id"]
    missing = await http.post(
        "/v1/agents/agent-00000000-0000-4000-8000-000000000000/messages/stream", json={"input": "x"}
    )
    assert missing.status_code == 404


async def test_a_sleeptime_run_can_be_followed(
    http: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    primary = (
        await http.post("/v1/agents/", json={"model": MODEL, "enable_sleeptime": True})
    ).json()
    fake_llm.state.add(
        Reply(tool_calls=[("send_message", {"message": "hi"})]),
        Reply(tool_calls=[("memory_finish_edits", {})]),
    )
    reply = (
        await http.post(f"/v1/agents/{primary['id']}/messages", json={"input": "hello"})
    ).json()
    [run_id] = reply["usage"]["run_ids"]
    async with http.stream(
        "GET", f"/v1/runs/{run_id}/stream", params={"include_pings": False}
    ) as r:
        events = await sse(r)
    assert kinds(events) == [
        "tool_call_message",
        "tool_return_message",
        "stop_reason",
        "usage_statistics",
        "[DONE]",
    ]
    assert events[2][1]["stop_reason"] == "tool_rule"
