"""The context routes: summarize on request, the window part by part, recompile."""

import asyncio
import threading
from typing import Any

import httpx
from sqlalchemy import select

from app.kit.db import Database
from app.messages.models import Message
from tests.compaction.parts import PARTS
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, history, ok

NOTICE = "Earlier messages of this conversation have left your context window"


async def _talk(client: httpx.AsyncClient, agent_id: str, turns: int) -> None:
    for i in range(turns):
        await ok(client.post(f"/v1/agents/{agent_id}/messages", json={"input": f"u{i}"}))


async def test_summarize_compacts_the_window_now(
    client: httpx.AsyncClient, summarizing: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    await _talk(client, agent["id"], 6)  # 12 messages after the system message
    summarizing.state.summaries.append(Reply(text="They said u0 to u5."))
    done = await ok(client.post(f"/v1/agents/{agent['id']}/summarize", json={}))
    # Letta's sliding window: at least 30% of the messages, cut at an assistant message.
    assert done == {
        "summary": "They said u0 to u5.",
        "num_messages_before": 13,
        "num_messages_after": 11,
    }
    asked = summarizing.state.summary_requests[0]["messages"][-1]["content"]
    assert "user: u0" in asked and "assistant: echo: u0" in asked and "u2" not in asked
    state = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert len(state["message_ids"]) == 11
    listed = await history(client, agent["id"])
    assert listed[-1]["message_type"] == "summary_message"
    assert (
        listed[-1]["summary"] == "They said u0 to u5."
        and state["message_ids"][1] == listed[-1]["id"]
    )
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "u6"}))
    sent = summarizing.state.chat_requests[-1]["messages"]
    assert sent[1]["role"] == "user" and sent[1]["content"].startswith(NOTICE)
    assert sent[1]["content"].endswith("\n\nThey said u0 to u5.")
    assert sent[2]["role"] == "assistant" and sent[-1]["content"] == "u6"

    reset = await ok(client.patch(f"/v1/agents/{agent['id']}/reset-messages", json={}))
    assert reset is None or len(reset["message_ids"]) == 1
    assert len((await ok(client.get(f"/v1/agents/{agent['id']}")))["message_ids"]) == 1
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "fresh"}))
    fresh = summarizing.state.chat_requests[-1]["messages"]
    assert [m["role"] for m in fresh] == ["system", "user"]


async def test_summarize_all_keeps_only_the_last_exchange(
    client: httpx.AsyncClient, summarizing: FakeLLMServer
) -> None:
    agent = await create_agent(client, compaction_settings={"mode": "all", "clip_chars": 5})
    assert agent["compaction_settings"]["mode"] == "all"
    assert agent["compaction_settings"]["sliding_window_percentage"] == 0.3
    await _talk(client, agent["id"], 3)
    summarizing.state.summaries.append(Reply(text="a long summary"))
    done = await ok(client.post(f"/v1/agents/{agent['id']}/summarize"))
    assert done["summary"].startswith("a lon") and "cut to its length" in done["summary"]
    assert (done["num_messages_before"], done["num_messages_after"]) == (7, 3)


async def test_summarize_settings_override_the_agents(
    client: httpx.AsyncClient, summarizing: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    await _talk(client, agent["id"], 3)
    body = {
        "compaction_settings": {
            "mode": "all",
            "model": "openai/gpt-4.1",
            "prompt_acknowledgement": True,
        }
    }
    summarizing.state.summary_marker = "You maintain the memory"
    done = await ok(client.post(f"/v1/agents/{agent['id']}/summarize", json=body))
    assert done["num_messages_after"] == 3
    request = summarizing.state.summary_requests[-1]
    assert request["model"] == "gpt-4.1"
    assert [m["role"] for m in request["messages"]] == ["system", "assistant", "user"]
    again = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert again["compaction_settings"] is None  # the agent's own are left as they were


async def test_summarize_refuses_what_it_cannot_do(
    client: httpx.AsyncClient, summarizing: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    path = f"/v1/agents/{agent['id']}/summarize"
    few = await client.post(path)
    assert few.status_code == 400 and "reduce the number of messages" in few.json()["detail"]
    bad = await client.post(path, json={"compaction_settings": {"model": "nowhere/model"}})
    assert bad.status_code == 400 and "compaction_settings.model" in bad.json()["detail"]
    wrong = await client.post(path, json={"compaction_settings": {"mode": "sometimes"}})
    assert wrong.status_code == 422
    missing = await client.post("/v1/agents/agent-00000000-0000-4000-8000-000000000000/summarize")
    assert missing.status_code == 404
    await _talk(client, agent["id"], 3)
    summarizing.state.summaries.extend(Reply(status=500) for _ in range(4))
    failed = await client.post(path)
    assert failed.status_code >= 500 and "summarizing model failed" in failed.json()["detail"]
    listed = await history(client, agent["id"])
    assert "summary_message" not in {m["message_type"] for m in listed}


async def test_compaction_settings_are_kept_and_changed(client: httpx.AsyncClient) -> None:
    agent = await create_agent(
        client, compaction_settings={"model": "openai/gpt-4.1", "sliding_window_percentage": 0.5}
    )
    settings = agent["compaction_settings"]
    assert settings["model"] == "openai/gpt-4.1" and settings["mode"] == "sliding_window"
    assert settings["sliding_window_percentage"] == 0.5 and settings["clip_chars"] == 50000
    path = f"/v1/agents/{agent['id']}"
    changed = await ok(client.patch(path, json={"compaction_settings": {"mode": "all"}}))
    assert changed["compaction_settings"]["mode"] == "all"
    assert changed["compaction_settings"]["model"] is None
    cleared = await ok(client.patch(path, json={"compaction_settings": None}))
    assert cleared["compaction_settings"] is None
    bad = await client.patch(path, json={"compaction_settings": {"model": "other/m"}})
    assert bad.status_code == 400 and "compaction_settings.model" in bad.json()["detail"]
    out_of_range = await client.post(
        "/v1/agents/",
        json={
            "model": "openai/gpt-4o-mini",
            "compaction_settings": {"sliding_window_percentage": 2},
        },
    )
    assert out_of_range.status_code == 422


async def test_context_shows_the_window_part_by_part(
    client: httpx.AsyncClient, summarizing: FakeLLMServer
) -> None:
    agent = await create_agent(
        client,
        context_window_limit=32000,
        memory_blocks=[{"label": "human", "value": "Ana, a pilot"}],
    )
    await _talk(client, agent["id"], 4)
    path = f"/v1/agents/{agent['id']}/context"
    before = await ok(client.get(path))
    assert before["context_window_size_max"] == 32000
    assert "Ana, a pilot" in before["core_memory"] and "<memory_blocks>" in before["core_memory"]
    assert "Ana, a pilot" not in before["system_prompt"]
    assert "<memory_metadata>" in before["external_memory_summary"]
    assert before["summary_memory"] is None and before["num_tokens_summary_memory"] == 0
    assert before["num_messages"] == 9 and before["num_recall_memory"] == 9
    assert [m["role"] for m in before["messages"]][:3] == ["system", "user", "assistant"]
    names = {f["function"]["name"] for f in before["functions_definitions"]}
    assert "conversation_search" in names
    assert before["context_window_size_current"] == sum(before[p] for p in PARTS)
    assert all(before[p] > 0 for p in PARTS if p != "num_tokens_summary_memory")
    summarizing.state.summaries.append(Reply(text="Ana said hello four times."))
    await ok(client.post(f"/v1/agents/{agent['id']}/summarize"))
    after = await ok(client.get(path))
    assert after["summary_memory"].endswith("Ana said hello four times.")
    assert after["num_tokens_summary_memory"] > 0
    assert after["messages"][1]["role"] == "summary"
    assert after["num_messages"] < before["num_messages"] + 1
    assert after["num_recall_memory"] == 10  # the summary is in the history too


async def test_recompile_rebuilds_the_system_message(
    client: httpx.AsyncClient, db: Database, summarizing: FakeLLMServer
) -> None:
    agent = await create_agent(client, memory_blocks=[{"label": "human", "value": "Ana"}])
    block_path = f"/v1/agents/{agent['id']}/core-memory/blocks/human"
    await ok(client.patch(block_path, json={"value": "Ana, now in Lisbon"}))
    path = f"/v1/agents/{agent['id']}/recompile"
    dry = await ok(client.post(path, params={"dry_run": True}))
    assert isinstance(dry, str) and "Ana, now in Lisbon" in dry
    assert "Ana, now in Lisbon" not in await _stored_system(db, agent["id"])
    compiled = await ok(client.post(path))
    assert compiled == dry and await _stored_system(db, agent["id"]) == compiled
    missing = await client.post("/v1/agents/agent-00000000-0000-4000-8000-000000000000/recompile")
    assert missing.status_code == 404


async def _stored_system(db: Database, agent_id: str) -> str:
    async with db.session(write=False) as session:
        content: Any = await session.scalar(
            select(Message.content).where(Message.agent_id == agent_id, Message.seq == 0)
        )
    return str(content[0]["text"])


async def test_the_servers_compaction_model_writes_summaries(
    make_client: Any, summarizing: FakeLLMServer
) -> None:
    client = await make_client(compaction_model="openai/gpt-4.1")
    agent = await create_agent(client)
    await _talk(client, agent["id"], 3)
    await ok(client.post(f"/v1/agents/{agent['id']}/summarize"))
    assert summarizing.state.summary_requests[-1]["model"] == "gpt-4.1"
    own = {"compaction_settings": {"mode": "self_compact_all"}}
    await _talk(client, agent["id"], 2)
    await ok(client.post(f"/v1/agents/{agent['id']}/summarize", json=own))
    assert summarizing.state.summary_requests[-1]["model"] == "gpt-4o-mini"  # the agent's


async def test_a_turn_begun_while_summarizing_wins(
    client: httpx.AsyncClient, summarizing: FakeLLMServer
) -> None:
    state = summarizing.state
    agent = await create_agent(client)
    await _talk(client, agent["id"], 3)
    summary_held, turn_held = threading.Event(), threading.Event()
    state.summaries.append(Reply(text="late", hold=summary_held))
    state.add(Reply(text="busy", hold=turn_held))
    path = f"/v1/agents/{agent['id']}"
    summarizing_task = asyncio.create_task(client.post(f"{path}/summarize"))
    await asyncio.to_thread(state.wait_for_summary_requests, 1)
    chats = len(state.chat_requests)
    turn = asyncio.create_task(client.post(f"{path}/messages", json={"input": "now"}))
    await asyncio.to_thread(state.wait_for_chat_requests, chats + 1)
    summary_held.set()
    refused = await summarizing_task
    turn_held.set()
    assert refused.status_code == 409 and refused.json()["detail"]["code"] == "AGENT_BUSY"
    assert (await turn).status_code == 200
    listed = await history(client, agent["id"])
    assert "summary_message" not in {m["message_type"] for m in listed}
