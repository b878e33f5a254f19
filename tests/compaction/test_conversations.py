"""Compaction in a conversation: its own window, summary and routes, the agent's main thread
untouched."""

from typing import Any

import httpx

from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok

NOTICE = "Earlier messages of this conversation have left your context window"


async def _say(client: httpx.AsyncClient, conversation_id: str, text: str, **body: Any) -> Any:
    path = f"/v1/conversations/{conversation_id}/messages"
    return await ok(client.post(path, json={"input": text, "streaming": False, **body}))


async def test_a_long_conversation_keeps_a_summary_of_its_own(
    client: httpx.AsyncClient, summarizing: FakeLLMServer
) -> None:
    state = summarizing.state
    agent = await create_agent(client, context_window_limit=6000, max_tokens=100)
    conversation = await ok(client.post("/v1/conversations/", params={"agent_id": agent["id"]}))
    for i in range(12):
        state.add(Reply(text=f"reply {i}"))
        answer = await _say(client, conversation["id"], f"message {i}: " + "x" * 2000)
        assert answer["messages"][-1]["content"] == f"reply {i}"
    assert state.summary_requests, "the conversation never compacted"
    sent = state.chat_requests[-1]["messages"]
    assert sent[1]["content"].startswith(NOTICE) and sent[-1]["content"].startswith("message 11")
    again = await ok(client.get(f"/v1/conversations/{conversation['id']}"))
    ids = again["in_context_message_ids"]
    listed = await ok(
        client.get(f"/v1/conversations/{conversation['id']}/messages", params={"limit": 100})
    )
    summaries = [m["id"] for m in listed if m["message_type"] == "summary_message"]
    assert summaries and ids[1] == summaries[-1]
    assert not set(summaries[:-1]) & set(ids)  # older summaries are history only
    said = [m for m in listed if m["message_type"] in ("user_message", "assistant_message")]
    assert len(said) == 24
    main = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert len(main["message_ids"]) == 1  # the main thread has only its system message


async def test_compact_and_recompile_a_conversation(
    client: httpx.AsyncClient, summarizing: FakeLLMServer
) -> None:
    agent = await create_agent(client, memory_blocks=[{"label": "human", "value": "Ana"}])
    conversation = await ok(client.post("/v1/conversations/", params={"agent_id": agent["id"]}))
    for i in range(4):
        await _say(client, conversation["id"], f"c{i}")
    summarizing.state.summaries.append(Reply(text="Four greetings."))
    path = f"/v1/conversations/{conversation['id']}/compact"
    done = await ok(client.post(path, json={"compaction_settings": {"mode": "all"}}))
    assert done == {"summary": "Four greetings.", "num_messages_before": 9, "num_messages_after": 3}
    shown = await ok(client.get(f"/v1/conversations/{conversation['id']}"))
    assert len(shown["in_context_message_ids"]) == 3
    await _say(client, conversation["id"], "c4")
    sent = summarizing.state.chat_requests[-1]["messages"]
    assert sent[1]["content"].endswith("Four greetings.") and sent[-1]["content"] == "c4"
    main = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert len(main["message_ids"]) == 1

    # Agent-direct: ``default`` with the agent names the main thread.
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "m0"}))
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "m1"}))
    direct = await ok(
        client.post(
            "/v1/conversations/default/compact",
            json={"agent_id": agent["id"], "compaction_settings": {"mode": "all"}},
        )
    )
    assert (direct["num_messages_before"], direct["num_messages_after"]) == (5, 3)
    missing = await client.post("/v1/conversations/default/compact", json={})
    assert missing.status_code == 422

    await ok(
        client.patch(f"/v1/agents/{agent['id']}/core-memory/blocks/human", json={"value": "Ana B."})
    )
    prompt = await ok(client.post(f"/v1/conversations/{conversation['id']}/recompile"))
    assert "Ana B." in prompt
    unknown = await client.post(
        "/v1/conversations/conv-00000000-0000-4000-8000-000000000000/compact"
    )
    assert unknown.status_code == 404
