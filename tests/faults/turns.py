"""Driving a turn either way and checking how it ended: the run, what it stored, the
stream's closing events, and whether the agent takes the next turn."""

from typing import Any

import httpx

from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import ok
from tests.streaming.test_sse import sse

Events = list[tuple[str | None, Any]]


async def json_turn(client: httpx.AsyncClient, agent_id: str, text: str) -> httpx.Response:
    body = {"messages": [{"role": "user", "content": text}]}
    return await client.post(f"/v1/agents/{agent_id}/messages", json=body)


async def stream_turn(
    client: httpx.AsyncClient, agent_id: str, text: str, *, stream_tokens: bool = True
) -> Events:
    """A streamed turn (tokens relayed, unless asked otherwise): its events, from the ping
    that names the run to ``[DONE]``."""
    body = {"messages": [{"role": "user", "content": text}], "stream_tokens": stream_tokens}
    path = f"/v1/agents/{agent_id}/messages/stream"
    async with client.stream("POST", path, json=body) as response:
        assert response.status_code == 200
        return await sse(response)


async def resumed(client: httpx.AsyncClient, run_id: str) -> Events:
    params = {"include_pings": False}
    async with client.stream("GET", f"/v1/runs/{run_id}/stream", params=params) as response:
        return await sse(response)


def payloads(events: Events, kind: str) -> list[dict[str, Any]]:
    return [e for _, e in events if isinstance(e, dict) and e["message_type"] == kind]


async def run_of(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    return await ok(client.get(f"/v1/runs/{run_id}"))  # type: ignore[no-any-return]


async def last_run(client: httpx.AsyncClient, agent_id: str) -> dict[str, Any]:
    runs = await ok(client.get("/v1/runs/", params={"agent_id": agent_id, "limit": 1}))
    return runs[0]  # type: ignore[no-any-return]


async def stored(client: httpx.AsyncClient, run_id: str) -> list[dict[str, Any]]:
    return await ok(client.get(f"/v1/runs/{run_id}/messages"))  # type: ignore[no-any-return]


async def history(client: httpx.AsyncClient, agent_id: str) -> list[dict[str, Any]]:
    path = f"/v1/agents/{agent_id}/messages"
    return await ok(client.get(path, params={"limit": 100}))  # type: ignore[no-any-return]


async def assert_failed_cleanly(
    client: httpx.AsyncClient,
    run_id: str,
    stop_reason: str,
    error_type: str,
    said: str,
    *,
    step: str | None = "failed",
) -> dict[str, Any]:
    """The run ended failed with the error, and stored nothing but the user's message: the
    agent's history ends with it. A failed model call keeps its step, with the error; a
    step whose transaction failed leaves none (``step`` None)."""
    run = await run_of(client, run_id)
    assert (run["status"], run["stop_reason"]) == ("failed", stop_reason), run
    assert run["error"]["type"] == error_type and run["completed_at"] is not None
    kept = await stored(client, run_id)
    assert [(m["message_type"], m.get("content")) for m in kept] == [("user_message", said)]
    last = (await history(client, run["agent_id"]))[-1]
    assert (last["message_type"], last["content"]) == ("user_message", said)
    steps = await ok(client.get(f"/v1/runs/{run_id}/steps", params={"order": "asc"}))
    if step is None:
        assert steps == []
    else:
        assert (steps[-1]["status"], steps[-1]["error_type"]) == (step, error_type)
    return run


def assert_stream_failed(events: Events, stop_reason: str, error_type: str) -> dict[str, Any]:
    """A failed stream ends ``stop_reason``, ``event: error``, ``[DONE]``; no whole message
    in it is one the run did not keep (checked against the run by the caller)."""
    closing = events[-3:]
    assert closing[0][1]["message_type"] == "stop_reason"
    assert closing[0][1]["stop_reason"] == stop_reason
    name, error = closing[1]
    assert name == "error" and error["message_type"] == "error_message"
    assert error["error_type"] == error_type
    assert closing[2] == (None, "[DONE]")
    return error  # type: ignore[no-any-return]


async def assert_agent_free(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, agent_id: str
) -> None:
    """The next turn runs at once and ends normally."""
    fake_llm.state.script.clear()
    fake_llm.state.add(Reply(text="still here"))
    answer = await ok(json_turn(client, agent_id, "are you there?"))
    assert answer["stop_reason"]["stop_reason"] == "end_turn"
    assert answer["messages"][-1]["content"] == "still here"
