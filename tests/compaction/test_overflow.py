"""A conversation longer than its context window: the older messages are summarised into a
summary message the window shows first, and the history keeps them all."""

import asyncio
import json
import threading
from typing import Any

import httpx

from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, history, ok

NOTICE = "Earlier messages of this conversation have left your context window"
WINDOW = {"context_window_limit": 6000, "max_tokens": 100}


async def _send(client: httpx.AsyncClient, agent_id: str, text: str, **body: Any) -> Any:
    return await ok(client.post(f"/v1/agents/{agent_id}/messages", json={"input": text, **body}))


async def test_a_long_conversation_keeps_answering_with_a_summary_in_context(
    client: httpx.AsyncClient, summarizing: FakeLLMServer
) -> None:
    state = summarizing.state
    agent = await create_agent(client, **WINDOW)
    for i in range(12):
        state.add(Reply(text=f"reply {i}"))
        answer = await _send(client, agent["id"], f"message {i}: " + "x" * 2000)
        assert answer["messages"][-1]["content"] == f"reply {i}"
    assert state.summary_requests, "the window never compacted"
    last = state.chat_requests[-1]["messages"]
    assert last[0]["role"] == "system" and last[1]["role"] == "user"
    assert last[1]["content"].startswith(NOTICE)
    assert last[1]["content"].endswith(f"summary {len(state.summary_requests)}")
    assert last[-1]["content"].startswith("message 11")
    # Each summary folds in the one before it.
    if len(state.summary_requests) > 1:
        assert "summary 1" in state.summary_requests[1]["messages"][-1]["content"]

    everything = await history(client, agent["id"])
    said = [m for m in everything if m["message_type"] in ("user_message", "assistant_message")]
    assert len(said) == 24  # summarised out of the window, never out of the history
    summaries = [m for m in everything if m["message_type"] == "summary_message"]
    assert len(summaries) == len(state.summary_requests)
    state_now = await ok(client.get(f"/v1/agents/{agent['id']}"))
    ids = state_now["message_ids"]
    assert ids[1] == summaries[-1]["id"]  # after the system message
    assert ids[-1] == everything[-1]["id"] and len(ids) < len(everything)

    runs = await ok(client.get("/v1/runs/", params={"agent_id": agent["id"], "limit": 100}))
    records = [r["metadata"]["compaction"] for r in runs if "compaction" in (r["metadata"] or {})]
    assert len(records) == len(summaries)
    assert all(r[0]["status"] == "summarized" for r in records)


async def test_a_tool_call_and_its_result_stay_together(
    client: httpx.AsyncClient, summarizing: FakeLLMServer
) -> None:
    state = summarizing.state
    agent = await create_agent(client, **WINDOW)
    for i in range(8):
        query = '{"query": "' + "q" * 1500 + '"}'
        state.add(Reply(tool_calls=[("conversation_search", query)]), Reply(text=f"r{i}"))
        await _send(client, agent["id"], f"turn {i} " + "y" * 1500)
    assert state.summary_requests, "the window never compacted"
    for request in state.chat_requests:
        chat = request["messages"][1:]
        called = {
            c["id"] for m in chat if m["role"] == "assistant" for c in m.get("tool_calls") or []
        }
        answered = {m["tool_call_id"] for m in chat if m["role"] == "tool"}
        assert answered == called  # no result without its call, no call without its result
    for request in state.summary_requests:
        text = request["messages"][-1]["content"]
        assert text.count("assistant called conversation_search") == text.count("tool result:")


async def test_a_failed_summary_falls_back_to_eviction_and_says_so(
    client: httpx.AsyncClient, summarizing: FakeLLMServer
) -> None:
    state = summarizing.state
    agent = await create_agent(client, **WINDOW)
    failures = [Reply(status=500) for _ in range(50)]
    state.summaries.extend(failures)
    runs, events = [], []
    for i in range(12):
        state.add(Reply(text=f"reply {i}"))
        text = f"message {i}: " + "x" * 2000
        answer = await _send(client, agent["id"], text, include_compaction_messages=True)
        assert answer["stop_reason"]["stop_reason"] == "end_turn"
        runs.append(answer["messages"][-1]["run_id"])
        events += [m for m in answer["messages"] if m["message_type"] != "assistant_message"]
    assert state.summary_requests, "the window never overflowed"
    assert events and {e["message_type"] for e in events} == {"event_message"}
    assert all(e["event_data"]["fallback"] == "eviction" for e in events)
    everything = await history(client, agent["id"], limit=1000)
    assert not [m for m in everything if m["message_type"] == "summary_message"]
    assert len(everything) == 24
    state_now = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert len(state_now["message_ids"]) < 25  # evicted from the window, kept in history
    assert (
        "previous messages between you and the user"
        in state.chat_requests[-1]["messages"][0]["content"]
    )
    records = []
    for run_id in runs:
        run = await ok(client.get(f"/v1/runs/{run_id}"))
        records += (run["metadata"] or {}).get("compaction", [])
    assert records and all(r["status"] == "evicted" for r in records)
    assert records[0]["error"]["type"] == "llm_error" and "500" in records[0]["error"]["message"]
    assert records[0]["summary_message_id"] is None


async def test_compaction_messages_are_shown_when_asked(
    client: httpx.AsyncClient, summarizing: FakeLLMServer
) -> None:
    state = summarizing.state
    agent = await create_agent(client, **WINDOW)
    shown: list[dict[str, Any]] = []
    for i in range(12):
        state.add(Reply(text=f"reply {i}"))
        answer = await _send(
            client, agent["id"], f"message {i}: " + "x" * 2000, include_compaction_messages=True
        )
        shown += [
            m
            for m in answer["messages"]
            if m["message_type"] in ("event_message", "summary_message")
        ]
    assert shown, "the window never compacted"
    event, summary = shown[0], shown[1]
    assert event["event_type"] == "compaction"
    assert event["event_data"]["trigger"] == "context_window_exceeded"
    assert summary["message_type"] == "summary_message" and summary["summary"] == "summary 1"
    stats = summary["compaction_stats"]
    assert stats["messages_count_after"] < stats["messages_count_before"]
    assert stats["context_window"] == WINDOW["context_window_limit"]
    listed = await history(client, agent["id"], limit=1000)
    assert summary["id"] in [m["id"] for m in listed]
    # Without the flag a turn's response shows none.
    state.add(Reply(text="plain"))
    for _ in range(3):
        state.add(Reply(text="plain"))
        plain = await _send(client, agent["id"], "y" * 3000)
        kinds = {m["message_type"] for m in plain["messages"]}
        assert not kinds & {"event_message", "summary_message"}


async def test_a_stream_shows_the_compaction_and_a_busy_thread_is_not_summarized(
    client: httpx.AsyncClient, summarizing: FakeLLMServer
) -> None:
    state = summarizing.state
    agent = await create_agent(client, **WINDOW)
    path = f"/v1/agents/{agent['id']}/messages"
    seen: list[str] = []
    for i in range(12):
        state.add(Reply(text=f"reply {i}"))
        body = {"input": "x" * 2000, "streaming": True, "include_compaction_messages": True}
        streamed = await client.post(path, json=body)
        chunks = [
            json.loads(line[6:])
            for line in streamed.text.splitlines()
            if line.startswith("data: {")
        ]
        seen += [c["message_type"] for c in chunks]
    assert "event_message" in seen and "summary_message" in seen
    assert seen.index("summary_message") == seen.index("event_message") + 1

    hold = threading.Event()
    state.add(Reply(text="slow", hold=hold))
    turn = asyncio.create_task(client.post(path, json={"input": "wait"}))
    await asyncio.to_thread(state.wait_for_chat_requests, len(state.chat_requests) + 1)
    busy = await client.post(f"/v1/agents/{agent['id']}/summarize")
    hold.set()
    assert busy.status_code == 409 and busy.json()["detail"]["code"] == "AGENT_BUSY"
    assert (await turn).status_code == 200


async def _short_turns(
    make_client: Any, summarizing: FakeLLMServer, turns: int, **body: Any
) -> tuple[httpx.AsyncClient, dict[str, Any]]:
    """An agent of a server whose window holds 10 messages, after ``turns`` short turns
    (each sent with ``body``'s fields)."""
    client = await make_client(context_max_messages=10)
    agent = await create_agent(client)
    for i in range(turns):
        summarizing.state.add(Reply(text=f"reply {i}"))
        await _send(client, agent["id"], f"message {i}", **body)
    return client, agent


async def test_a_window_full_by_count_is_summarised_not_dropped(
    make_client: Any, summarizing: FakeLLMServer
) -> None:
    """Short messages that never fill the token window still leave it through a summary once
    the window holds nine tenths of ``context_max_messages``."""
    client, agent = await _short_turns(make_client, summarizing, 8)
    state = summarizing.state
    assert state.summary_requests, "the window never compacted"
    summarised = state.summary_requests[0]["messages"][-1]["content"]
    assert "message 0" in summarised  # the oldest went into the summary
    for request in state.chat_requests:
        assert len(request["messages"]) <= 1 + 1 + 10  # system, summary, at most the cap
    last = state.chat_requests[-1]["messages"]
    assert last[1]["content"].startswith(NOTICE)
    runs = await ok(client.get("/v1/runs/", params={"agent_id": agent["id"], "limit": 100}))
    records = [r["metadata"]["compaction"] for r in runs if "compaction" in (r["metadata"] or {})]
    assert records and all(r[0]["trigger"] == "message_cap_reached" for r in records)
    assert all(r[0]["status"] == "summarized" for r in records)
    said = [m for m in await history(client, agent["id"]) if m["message_type"] == "user_message"]
    assert len(said) == 8


async def test_the_step_after_a_summary_sees_the_window_a_fresh_read_gives(
    make_client: Any, summarizing: FakeLLMServer
) -> None:
    """When the compaction comes first (here because it is shown), the step that follows the
    summary goes on with the window the compaction left (it does not read its memory and
    tools again); the next turn, which reads everything anew, is sent the same messages and
    tools, then the step's own reply and its new input."""
    await _short_turns(make_client, summarizing, 6, include_compaction_messages=True)
    requests = summarizing.state.chat_requests
    first = next(
        i for i, r in enumerate(requests) if r["messages"][1]["content"].endswith("summary 1")
    )
    compacted, fresh = requests[first], requests[first + 1]
    assert fresh["messages"][1]["content"].endswith("summary 1")  # no second summary yet
    assert fresh["messages"][: len(compacted["messages"])] == compacted["messages"]
    after = fresh["messages"][len(compacted["messages"]) :]
    assert after[0]["role"] == "assistant" and after[-1]["role"] == "user"
    assert fresh["tools"] == compacted["tools"]


async def test_a_window_full_by_count_is_summarised_alongside_the_step(
    make_client: Any, summarizing: FakeLLMServer
) -> None:
    """A window full by count still fits the model: its step is sent the whole window while
    the summary is written, the summary is stored before the step's reply, and the next
    turn reads the window the compaction left."""
    client, agent = await _short_turns(make_client, summarizing, 6)
    state = summarizing.state
    requests = state.chat_requests
    fresh = next(
        i for i, r in enumerate(requests) if r["messages"][1]["content"].endswith("summary 1")
    )
    compacting = requests[fresh - 1]["messages"]  # the turn that wrote summary 1
    assert not compacting[1]["content"].startswith(NOTICE)  # no summary yet: the whole window
    assert compacting[1]["content"] == "message 0"
    summarised = state.summary_requests[0]["messages"][-1]["content"]
    assert "message 0" in summarised
    # The next turn reads the window the compaction left: message 0 is in the summary only.
    assert all(m.get("content") != "message 0" for m in requests[fresh]["messages"])
    messages = await history(client, agent["id"])
    kinds = [m["message_type"] for m in messages]
    summary = kinds.index("summary_message")
    reply = f"reply {fresh - 1}"
    replies = [i for i, m in enumerate(messages) if m.get("content") == reply]
    assert replies and summary < replies[0]  # stored before the step's reply
    runs = await ok(client.get("/v1/runs/", params={"agent_id": agent["id"], "limit": 100}))
    records = [r["metadata"]["compaction"] for r in runs if "compaction" in (r["metadata"] or {})]
    assert records and all(r[0]["status"] == "summarized" for r in records)


async def test_a_turn_that_fails_keeps_the_compaction_made_alongside(
    make_client: Any, summarizing: FakeLLMServer
) -> None:
    """The step's model call fails while its window is summarised alongside: the summary is
    still stored, and the failed run's metadata says so."""
    client, agent = await _short_turns(make_client, summarizing, 4)  # the next turn compacts
    summarizing.state.add(Reply(status=400, error_body={"error": {"message": "refused"}}))
    failed = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "message 4"})
    assert len(summarizing.state.summary_requests) == 1
    runs = await ok(client.get("/v1/runs/", params={"agent_id": agent["id"], "limit": 100}))
    last = max(runs, key=lambda r: r["created_at"])
    assert last["status"] == "failed", failed.text
    assert last["metadata"]["compaction"][0]["status"] == "summarized"
    kinds = [m["message_type"] for m in await history(client, agent["id"])]
    assert kinds.count("summary_message") == 1
