"""A conversation longer than its context window: the older messages are summarised into a
summary message the window shows first, and the history keeps them all."""

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
