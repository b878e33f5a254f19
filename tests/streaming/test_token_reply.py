"""Replies stream as they are written, whatever the agent type: a memgpt_v2_agent's
send_message as assistant text decoded from its arguments, a letta_v1_agent's as tool-call
chunks; the run's resumed stream gives the same chunks, and streams honour
include_return_message_types."""

import json
from typing import Any

import httpx
import pytest
from letta_client import AsyncLetta

from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.streaming.test_sse import agent, kinds, sse

Events = list[tuple[str | None, Any]]
HELLO = 'Hello "Ana" \\ welcome\nback, café 😀 \u2028 done'
CLOSING = ["stop_reason", "usage_statistics", "[DONE]"]


def reply(message: Any = HELLO, piece: int = 5) -> Reply:
    return Reply(tool_calls=[("send_message", {"message": message})], piece=piece)


async def stream(http: httpx.AsyncClient, agent_id: str, **body: Any) -> Events:
    """A turn's stream, without pings: keepalives depend on how busy the machine is."""
    body.setdefault("input", "hi")
    body.setdefault("include_pings", False)
    async with http.stream("POST", f"/v1/agents/{agent_id}/messages/stream", json=body) as r:
        assert r.status_code == 200
        return await sse(r)


async def resumed(http: httpx.AsyncClient, run_id: str) -> Events:
    async with http.stream(
        "GET", f"/v1/runs/{run_id}/stream", params={"include_pings": False}
    ) as r:
        return await sse(r)


def of(events: Events, kind: str) -> list[dict[str, Any]]:
    return [e for _, e in events if not isinstance(e, str) and e["message_type"] == kind]


async def same_on_resume(http: httpx.AsyncClient, events: Events) -> None:
    """The run's stream, read again from its event log, is the live one."""
    assert await resumed(http, events[0][1]["run_id"]) == events


@pytest.mark.parametrize("piece", [1, 2, 3, 5, 8])
async def test_memgpt_v2_reply_streams_as_assistant_text(
    http: httpx.AsyncClient, fake_llm: FakeLLMServer, piece: int
) -> None:
    agent_id = await agent(http, agent_type="memgpt_v2_agent")
    fake_llm.state.add(reply(piece=piece))
    events = await stream(http, agent_id, stream_tokens=True)
    chunks = of(events, "assistant_message")
    assert kinds(events) == [*["assistant_message"] * len(chunks), *CLOSING]
    assert len(chunks) > 3 and len({(c["id"], c["otid"]) for c in chunks}) == 1
    assert "".join(c["content"] for c in chunks) == HELLO
    assert events[-3][1]["stop_reason"] == "end_turn"
    await same_on_resume(http, events)
    stored = (await http.get(f"/v1/runs/{chunks[0]['run_id']}/messages")).json()
    assert kinds([(None, m) for m in stored]) == ["user_message", "assistant_message"]
    assert stored[1]["id"] == chunks[0]["id"] and stored[1]["content"] == HELLO


async def test_memgpt_v2_step_stream_and_raw_tool_calls(
    http: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent_id = await agent(http, agent_type="memgpt_v2_agent")
    fake_llm.state.add(reply())
    steps = await stream(http, agent_id)
    assert kinds(steps) == ["assistant_message", *CLOSING]
    assert steps[0][1]["content"] == HELLO
    await same_on_resume(http, steps)
    fake_llm.state.add(reply("raw"))
    raw = await stream(http, agent_id, stream_tokens=True, use_assistant_message=False)
    calls = of(raw, "tool_call_message")
    assert kinds(raw) == [
        *["tool_call_message"] * len(calls),
        "tool_return_message",
        *CLOSING,
    ]
    assert calls[0]["tool_call"]["name"] == "send_message"
    assert json.loads("".join(c["tool_call"].get("arguments", "") for c in calls)) == {
        "message": "raw"
    }
    await same_on_resume(http, raw)


async def test_letta_v1_reply_streams_as_tool_call_chunks(
    http: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    primary = await agent(http, enable_sleeptime=True)
    fake_llm.state.add(reply(), Reply(tool_calls=[("memory_finish_edits", {})]))
    events = await stream(http, primary, stream_tokens=True)
    calls = of(events, "tool_call_message")
    assert kinds(events) == [
        *["tool_call_message"] * len(calls),
        "tool_return_message",
        *CLOSING,
    ]
    assert len(calls) > 3 and len({(c["id"], c["otid"]) for c in calls}) == 1
    head, rest = calls[0]["tool_call"], [c["tool_call"] for c in calls[1:]]
    assert head["name"] == "send_message" and head["tool_call_id"].startswith("call_")
    assert all(set(delta) == {"arguments"} for delta in rest)
    arguments = head.get("arguments", "") + "".join(d["arguments"] for d in rest)
    assert json.loads(arguments) == {"message": HELLO}
    returned = of(events, "tool_return_message")[0]
    assert returned["tool_call_id"] == head["tool_call_id"]
    assert events[-3][1]["stop_reason"] == "tool_rule"
    await same_on_resume(http, events)
    history = (await http.get(f"/v1/agents/{primary}/messages")).json()
    assert [m["message_type"] for m in history][-2:] == ["user_message", "assistant_message"]
    assert history[-1]["content"] == HELLO
    [sleeptime_run] = events[-2][1]["run_ids"]  # it must not outlive the test's script
    run = (await http.get(f"/v1/runs/{sleeptime_run}", params={"wait": 20})).json()
    assert run["status"] == "completed"


async def test_letta_v1_step_stream(http: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent_id = await agent(http, tools=["send_message"], include_base_tool_rules=True)
    fake_llm.state.add(reply())
    events = await stream(http, agent_id)
    assert kinds(events) == ["tool_call_message", "tool_return_message", *CLOSING]
    assert json.loads(events[0][1]["tool_call"]["arguments"]) == {"message": HELLO}
    assert events[-3][1]["stop_reason"] == "tool_rule"
    await same_on_resume(http, events)


async def test_streams_honour_include_return_message_types(
    http: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent_id = await agent(http)
    only = {"include_return_message_types": ["assistant_message"]}
    for tokens in (False, True):
        fake_llm.state.add(Reply(tool_calls=[("conversation_search", {})]), Reply(text="Found."))
        events = await stream(http, agent_id, stream_tokens=tokens, **only)
        shown = of(events, "assistant_message")
        assert kinds(events) == [*["assistant_message"] * len(shown), *CLOSING]
        assert "".join(c["content"] for c in shown) == "Found."
        assert events[-2][1]["step_count"] == 2
        await same_on_resume(http, events)  # the run keeps the filter it was asked for


async def test_a_structured_reply_is_sent_once_whole(
    http: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent_id = await agent(
        http, agent_type="memgpt_v2_agent", response_format={"type": "json_object"}
    )
    verdict = {"rank": 1, "reason": 'top "sushi"'}
    fake_llm.state.add(reply(verdict))
    events = await stream(http, agent_id, stream_tokens=True)
    assert kinds(events) == ["assistant_message", *CLOSING]
    assert json.loads(events[0][1]["content"]) == verdict
    sent = fake_llm.state.chat_requests[-1]
    assert sent["response_format"] == {"type": "json_object"}
    [send] = [t["function"] for t in sent["tools"] if t["function"]["name"] == "send_message"]
    assert send["parameters"]["properties"]["message"]["type"] == "object"


async def test_the_sdk_reads_token_streamed_replies(
    http: httpx.AsyncClient, server: str, fake_llm: FakeLLMServer
) -> None:
    sdk = AsyncLetta(base_url=server, max_retries=0)
    v2 = await agent(http, agent_type="memgpt_v2_agent")
    fake_llm.state.add(reply())
    chunks = [
        c
        async for c in await sdk.agents.messages.create(
            v2, input="hi", streaming=True, stream_tokens=True
        )
    ]
    text = "".join(c.content for c in chunks if c.message_type == "assistant_message")
    assert text == HELLO
    v1 = await agent(http, tools=["send_message"], include_base_tool_rules=True)
    fake_llm.state.add(reply("sdk"))
    chunks = [
        c
        async for c in await sdk.agents.messages.create(
            v1, input="hi", streaming=True, stream_tokens=True
        )
    ]
    calls = [c for c in chunks if c.message_type == "tool_call_message"]
    assert calls[0].tool_call.name == "send_message"
    arguments = "".join(c.tool_call.arguments or "" for c in calls)
    assert json.loads(arguments) == {"message": "sdk"}
    assert [c.message_type for c in chunks][-3:] == [
        "tool_return_message",
        "stop_reason",
        "usage_statistics",
    ]
