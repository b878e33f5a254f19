"""Conversations end to end: threads of one agent that share its memory and keep their own
messages, the agent-direct mode, admission per thread, runs, fork, delete, bad input."""

import asyncio
import json
import threading
from typing import Any

import httpx

from app.auth import service as auth_service
from app.config import AuthMode
from app.kit.db import Database
from tests.conftest import AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok

CONV = "/v1/conversations"


async def new_conversation(client: httpx.AsyncClient, agent_id: str, **body: Any) -> str:
    created = await ok(client.post(f"{CONV}/", params={"agent_id": agent_id}, json=body))
    assert created["agent_id"] == agent_id and created["id"].startswith("conv-")
    return str(created["id"])


async def say(
    client: httpx.AsyncClient, conversation_id: str, text: str, **body: Any
) -> httpx.Response:
    payload = {"messages": [{"role": "user", "content": text}], "streaming": False, **body}
    return await client.post(f"{CONV}/{conversation_id}/messages", json=payload)


async def thread(client: httpx.AsyncClient, conversation_id: str, **params: Any) -> list[str]:
    """The conversation's user and assistant texts, oldest first."""
    listed = await ok(client.get(f"{CONV}/{conversation_id}/messages", params=params))
    return [
        f"{m['message_type']}: {m['content']}"
        for m in listed
        if m["message_type"] in ("user_message", "assistant_message")
    ]


async def two_threads_and_a_slow_reply(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> tuple[dict[str, Any], str, str, threading.Event]:
    """An agent with two conversations; the model's next answer ("slow") waits for the
    event, the one after it ("quick") does not."""
    agent = await create_agent(client)
    one = await new_conversation(client, agent["id"])
    two = await new_conversation(client, agent["id"])
    release = threading.Event()
    fake_llm.state.add(Reply(text="slow", hold=release), Reply(text="quick"))
    return agent, one, two, release


def prompt_texts(request: dict[str, Any]) -> list[str]:
    return [str(m.get("content")) for m in request["messages"][1:]]


async def test_two_conversations_keep_their_threads_and_share_memory(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, memory_blocks=[{"label": "human", "value": "Name: Ana"}])
    first = await new_conversation(client, agent["id"], summary="first")
    second = await new_conversation(client, agent["id"])
    edit = {"label": "human", "old_string": "Ana", "new_string": "Bea"}
    fake_llm.state.add(Reply(tool_calls=[("memory_replace", edit)]), Reply(text="noted"))
    answer = await ok(say(client, first, "call me Bea"))
    assert answer["stop_reason"]["stop_reason"] == "end_turn"
    await ok(say(client, second, "who am I?"))

    seen = fake_llm.state.chat_requests[-1]
    assert "Name: Bea" in seen["messages"][0]["content"]  # the edit made in the first one
    assert prompt_texts(seen) == ["who am I?"]  # none of the first conversation's messages
    assert await thread(client, first) == [
        "user_message: call me Bea",
        "assistant_message: noted",
    ]
    assert await thread(client, second) == [
        "user_message: who am I?",
        "assistant_message: echo: who am I?",
    ]
    await ok(say(client, first, "again"))
    texts = prompt_texts(fake_llm.state.chat_requests[-1])
    assert texts[0] == "call me Bea" and texts[-1] == "again"
    assert "who am I?" not in texts
    # The agent's main thread saw none of it; its own history lists every thread.
    main = await thread(client, "default", agent_id=agent["id"])
    assert main == []
    every = await ok(client.get(f"/v1/agents/{agent['id']}/messages"))
    assert sum(m["message_type"] == "user_message" for m in every) == 3
    retrieved = await ok(client.get(f"{CONV}/{first}"))
    assert retrieved["summary"] == "first"
    # The system message, then both turns: user, call, result, reply; user, reply.
    assert len(retrieved["in_context_message_ids"]) == 1 + 4 + 2


async def test_agent_direct_mode(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await create_agent(client)
    direct = await ok(
        client.post(
            f"{CONV}/default/messages",
            json={"agent_id": agent["id"], "input": "hello", "streaming": False},
        )
    )
    assert direct["messages"][-1]["content"] == "echo: hello"
    run = await ok(client.get(f"/v1/runs/{direct['messages'][-1]['run_id']}"))
    assert run["conversation_id"] is None and run["metadata"]["run_type"] == "send_message"
    await ok(say(client, agent["id"], "deprecated form"))  # the agent id as the conversation
    expected = [
        "user_message: hello",
        "assistant_message: echo: hello",
        "user_message: deprecated form",
        "assistant_message: echo: deprecated form",
    ]
    assert await thread(client, "default", agent_id=agent["id"]) == expected
    assert await thread(client, agent["id"]) == expected
    by_agent = await ok(
        client.get(f"/v1/agents/{agent['id']}/messages", params={"conversation_id": "default"})
    )
    assert [m["id"] for m in by_agent] == [
        m["id"]
        for m in await ok(client.get(f"{CONV}/default/messages", params={"agent_id": agent["id"]}))
    ]
    own = await ok(client.get(f"/v1/agents/{agent['id']}/messages"))
    assert [m["id"] for m in own][-4:] == [
        m["id"] for m in await ok(client.get(f"{CONV}/{agent['id']}/messages"))
    ][-4:]
    nothing = await client.post(f"{CONV}/default/cancel", params={"agent_id": agent["id"]})
    assert nothing.status_code == 409, nothing.text
    # A conversation of the agent is not its main thread.
    other = await new_conversation(client, agent["id"])
    assert await thread(client, other) == []
    await ok(say(client, other, "elsewhere"))
    one = await ok(
        client.get(f"/v1/agents/{agent['id']}/messages", params={"conversation_id": other})
    )
    assert [m["message_type"] for m in one] == ["user_message", "assistant_message"]
    stranger = await create_agent(client)
    wrong = await client.get(
        f"/v1/agents/{stranger['id']}/messages", params={"conversation_id": other}
    )
    assert wrong.status_code == 404, wrong.text


async def test_a_streamed_send_and_its_stream_resumed(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    conversation = await new_conversation(client, agent["id"])
    body = {"messages": [{"role": "user", "content": "stream me", "otid": "otid-1"}]}
    streamed = await client.post(f"{CONV}/{conversation}/messages", json=body)
    assert streamed.status_code == 200, streamed.text
    assert streamed.headers["content-type"].startswith("text/event-stream")
    chunks = [
        json.loads(line[6:]) for line in streamed.text.splitlines() if line.startswith("data: {")
    ]
    run_id = chunks[0]["run_id"]
    assert any(c.get("content") == "echo: stream me" for c in chunks)
    resumed = await client.post(f"{CONV}/{conversation}/stream", json={"otid": "otid-1"})
    assert resumed.status_code == 200, resumed.text
    assert "echo: stream me" in resumed.text and run_id in resumed.text
    by_run = await client.post(f"{CONV}/{conversation}/stream", json={"run_id": run_id})
    assert by_run.status_code == 200 and "echo: stream me" in by_run.text
    idle = await client.post(f"{CONV}/{conversation}/stream")
    assert idle.status_code == 400 and "No active runs" in idle.text


async def test_one_turn_at_a_time_per_conversation(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent, busy_one, other, release = await two_threads_and_a_slow_reply(client, fake_llm)
    first = asyncio.create_task(say(client, busy_one, "first"))
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 1)
    try:
        refused = await say(client, busy_one, "second")
        assert refused.status_code == 409, refused.text
        detail = refused.json()["detail"]
        assert detail["code"] == "CONVERSATION_BUSY"
        assert "is currently being processed" in detail["message"]
        assert detail["conversation_id"] == busy_one
        # Another conversation of the same agent, and its main thread, run meanwhile.
        answered = await ok(say(client, other, "meanwhile"))
        assert answered["messages"][-1]["content"] == "quick"
        await ok(say(client, "default", "main too", agent_id=agent["id"]))
        active = await ok(client.get("/v1/runs/", params={"conversation_id": busy_one}))
        assert [r["status"] for r in active] == ["running"]
    finally:
        release.set()
    assert (await first).status_code == 200
    assert await thread(client, busy_one) == ["user_message: first", "assistant_message: slow"]


async def test_runs_carry_and_filter_by_conversation(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    one = await new_conversation(client, agent["id"])
    two = await new_conversation(client, agent["id"])
    for conversation in (one, one, two):
        await ok(say(client, conversation, "hi"))
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "main"}))
    runs = await ok(client.get("/v1/runs/", params={"conversation_id": one}))
    assert len(runs) == 2 and {r["conversation_id"] for r in runs} == {one}
    assert {r["metadata"]["run_type"] for r in runs} == {"send_conversation_message"}
    assert len(await ok(client.get("/v1/runs/", params={"conversation_id": two}))) == 1
    every = await ok(client.get("/v1/runs/", params={"agent_id": agent["id"]}))
    assert sorted(str(r["conversation_id"]) for r in every) == sorted([one, one, two, "None"])
    # A retried send with the same Idempotency-Key is the same turn.
    payload = {"input": "once", "streaming": False}
    keyed = {"Idempotency-Key": "send-once"}
    first = await ok(client.post(f"{CONV}/{two}/messages", json=payload, headers=keyed))
    again = await ok(client.post(f"{CONV}/{two}/messages", json=payload, headers=keyed))
    assert first == again
    assert len(await ok(client.get("/v1/runs/", params={"conversation_id": two}))) == 2


async def test_an_approval_pauses_only_its_conversation(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    paused = await new_conversation(client, agent["id"])
    other = await new_conversation(client, agent["id"])
    tool = {"name": "ask_user", "parameters": {"type": "object", "properties": {}}}
    fake_llm.state.add(Reply(tool_calls=[("ask_user", {})]))
    answer = await ok(say(client, paused, "ask me", client_tools=[tool]))
    assert answer["stop_reason"]["stop_reason"] == "requires_approval"
    call_id = answer["messages"][-1]["tool_call"]["tool_call_id"]
    blocked = await say(client, paused, "hello?")
    assert blocked.status_code == 409 and "PENDING_APPROVAL" in blocked.text
    await ok(say(client, other, "free"))
    await ok(say(client, "default", "free too", agent_id=agent["id"]))
    approval = {
        "type": "approval",
        "approvals": [{"type": "tool", "tool_call_id": call_id, "tool_return": "yes"}],
    }
    fake_llm.state.add(Reply(text="thanks"))
    resumed = await ok(say(client, paused, "", messages=[approval]))
    assert resumed["messages"][-1]["content"] == "thanks"
    runs = await ok(client.get("/v1/runs/", params={"conversation_id": paused}))
    assert [r["stop_reason"] for r in runs] == ["end_turn", "requires_approval"]


async def test_cancel_a_paused_conversation(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    conversation = await new_conversation(client, agent["id"])
    tool = {"name": "ask_user", "parameters": {"type": "object", "properties": {}}}
    fake_llm.state.add(Reply(tool_calls=[("ask_user", {})]))
    answer = await ok(say(client, conversation, "ask me", client_tools=[tool]))
    run_id = answer["messages"][-1]["run_id"]
    cancelled = await ok(client.post(f"{CONV}/{conversation}/cancel"))
    assert cancelled == {run_id: "cancelled"}
    await ok(say(client, conversation, "next"))  # the denied call no longer blocks it


async def test_fork(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await create_agent(client)
    source = await new_conversation(client, agent["id"])
    await ok(say(client, source, "one"))
    await ok(say(client, source, "two"))
    before = await ok(client.get(f"{CONV}/{source}"))
    listed = await ok(client.get(f"{CONV}/{source}/messages", params={"order": "asc"}))
    first_reply = next(m["id"] for m in listed if m["message_type"] == "assistant_message")
    forked = await ok(client.post(f"{CONV}/{source}/fork"))
    assert forked["id"] != source and forked["agent_id"] == agent["id"]
    assert len(forked["in_context_message_ids"]) == len(before["in_context_message_ids"])
    assert not set(forked["in_context_message_ids"][1:]) & set(before["in_context_message_ids"])
    assert await thread(client, forked["id"]) == await thread(client, source)
    await ok(say(client, forked["id"], "three"))
    assert prompt_texts(fake_llm.state.chat_requests[-1]) == [
        "one",
        "echo: one",
        "two",
        "echo: two",
        "three",
    ]
    assert len(await thread(client, source)) == 4  # the source is untouched
    partial = await ok(client.post(f"{CONV}/{source}/fork", params={"message_id": first_reply}))
    assert await thread(client, partial["id"]) == [
        "user_message: one",
        "assistant_message: echo: one",
    ]
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "main"}))
    of_main = await ok(client.post(f"{CONV}/default/fork", params={"agent_id": agent["id"]}))
    assert await thread(client, of_main["id"]) == [
        "user_message: main",
        "assistant_message: echo: main",
    ]
    wrong = await client.post(f"{CONV}/{source}/fork", params={"message_id": "message-x"})
    assert wrong.status_code == 400 and "message_id" in wrong.text


async def test_list_modify_and_delete(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await create_agent(client)
    other_agent = await create_agent(client)
    ids = [await new_conversation(client, agent["id"], summary=f"topic {n}") for n in range(3)]
    elsewhere = await new_conversation(client, other_agent["id"])
    listed = await ok(client.get(f"{CONV}/", params={"agent_id": agent["id"]}))
    assert [c["id"] for c in listed] == ids[::-1]  # newest first
    assert listed[0]["in_context_message_ids"] is None
    oldest_first = await ok(
        client.get(f"{CONV}/", params={"agent_id": agent["id"], "order": "asc", "limit": 2})
    )
    assert [c["id"] for c in oldest_first] == ids[:2]
    rest = await ok(
        client.get(f"{CONV}/", params={"agent_id": agent["id"], "order": "asc", "after": ids[1]})
    )
    assert [c["id"] for c in rest] == ids[2:]
    everything = await ok(client.get(f"{CONV}/"))
    assert {c["id"] for c in everything} == {*ids, elsewhere}
    found = await ok(client.get(f"{CONV}/", params={"summary_search": "TOPIC 1"}))
    assert [c["id"] for c in found] == [ids[1]]
    await ok(say(client, ids[0], "ran last"))
    recent = await ok(
        client.get(f"{CONV}/", params={"agent_id": agent["id"], "order_by": "last_run_completion"})
    )
    assert recent[0]["id"] == ids[0]

    renamed = await ok(client.patch(f"{CONV}/{ids[1]}", json={"summary": "renamed"}))
    assert renamed["summary"] == "renamed"
    refused = await client.patch(f"{CONV}/{ids[1]}", json={"description": "about"})
    assert refused.status_code == 422 and "description" in refused.text

    hidden = await new_conversation(client, agent["id"], hidden=True)
    assert (await ok(client.get(f"{CONV}/{hidden}")))["hidden"] is True
    forked = await ok(client.post(f"{CONV}/{ids[1]}/fork", params={"hidden": "true"}))
    shown = await ok(client.get(f"{CONV}/", params={"agent_id": agent["id"]}))
    assert {c["id"] for c in shown} == set(ids)  # neither the hidden one nor the hidden fork
    assert (await ok(client.get(f"{CONV}/{forked['id']}")))["hidden"] is True

    assert (await client.delete(f"{CONV}/{ids[0]}")).status_code == 200
    for gone in (
        client.get(f"{CONV}/{ids[0]}"),
        client.get(f"{CONV}/{ids[0]}/messages"),
        say(client, ids[0], "still there?"),
        client.delete(f"{CONV}/{ids[0]}"),
        client.post(f"{CONV}/{ids[0]}/fork"),
    ):
        response = await gone
        assert response.status_code == 404, response.text
    remaining = await ok(client.get(f"{CONV}/", params={"agent_id": agent["id"]}))
    assert ids[0] not in {c["id"] for c in remaining}
    kept = await ok(client.get(f"/v1/agents/{agent['id']}/messages"))
    assert any(m.get("content") == "ran last" for m in kept)  # its messages stay in history

    # Deleting the agent deletes its conversations.
    await ok(client.delete(f"/v1/agents/{other_agent['id']}"))
    assert (await client.get(f"{CONV}/{elsewhere}")).status_code == 404
    assert elsewhere not in {c["id"] for c in await ok(client.get(f"{CONV}/"))}


async def test_bad_input(client: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await create_agent(client)
    conversation = await new_conversation(client, agent["id"])
    unknown = "conv-00000000-0000-4000-8000-000000000000"
    unknown_agent = "agent-00000000-0000-4000-8000-000000000000"
    cases: list[tuple[Any, int, str]] = [
        (client.get(f"{CONV}/{unknown}"), 404, unknown),
        (say(client, unknown, "hi"), 404, unknown),
        (client.get(f"{CONV}/not-an-id"), 422, "conversation_id"),
        (client.post(f"{CONV}/", params={"agent_id": unknown_agent}), 404, unknown_agent),
        (client.post(f"{CONV}/"), 422, "agent_id"),
        (client.get(f"{CONV}/default/messages"), 422, "agent_id"),
        (say(client, "default", "hi"), 422, "agent_id"),
        (say(client, "default", "hi", agent_id=unknown_agent), 404, unknown_agent),
        (client.get(f"{CONV}/", params={"agent_id": unknown_agent}), 404, unknown_agent),
        (client.get(f"{CONV}/", params={"after": unknown}), 400, "after"),
        (client.get(f"{CONV}/", params={"order_by": "name"}), 422, "order_by"),
        (say(client, conversation, "hi", override_system="x"), 422, "override_system"),
        (
            client.post(
                f"{CONV}/", params={"agent_id": agent["id"]}, json={"isolated_block_labels": ["h"]}
            ),
            422,
            "isolated_block_labels",
        ),
        (
            client.post(f"{CONV}/{conversation}/messages", json={"messages": []}),
            422,
            "messages",
        ),
        (
            say(client, conversation, "hi", stream_tokens=True),
            422,
            "stream_tokens",
        ),
        (client.post(f"{CONV}/{conversation}/cancel"), 409, "No active runs"),
        (client.post(f"{CONV}/{conversation}/stream", json={"otid": "nope"}), 400, "otid"),
    ]
    for call, status, named in cases:
        response = await call
        assert response.status_code == status, (status, response.text)
        assert named in response.text, response.text
    # Still no message stored anywhere.
    assert await thread(client, conversation) == []


async def test_another_organization_gets_404(
    make_client: AppFactory, db: Database, fake_llm: FakeLLMServer
) -> None:
    tenants = []
    for name in ("org a", "org b"):
        async with db.session() as session:
            issued = await auth_service.create_key(session, org_name=name, name=None)
        tenant = await make_client(auth=AuthMode.required, dispatcher=False)
        tenant.headers["Authorization"] = f"Bearer {issued.secret}"
        tenants.append(tenant)
    a, b = tenants
    agent = await create_agent(a)
    conversation = await new_conversation(a, agent["id"])
    await ok(say(a, conversation, "private"))
    for call in (
        b.get(f"{CONV}/{conversation}"),
        b.get(f"{CONV}/{conversation}/messages"),
        say(b, conversation, "hi"),
        b.patch(f"{CONV}/{conversation}", json={"summary": "x"}),
        b.delete(f"{CONV}/{conversation}"),
        b.post(f"{CONV}/{conversation}/fork"),
        b.post(f"{CONV}/{conversation}/cancel"),
        b.post(f"{CONV}/{conversation}/stream"),
        b.post(f"{CONV}/", params={"agent_id": agent["id"]}),
        say(b, "default", "hi", agent_id=agent["id"]),
    ):
        response = await call
        assert response.status_code == 404, response.text
    assert await ok(b.get(f"{CONV}/")) == []
    assert await ok(b.get("/v1/runs/", params={"conversation_id": conversation})) == []


async def test_sleeptime_reads_every_thread_exactly_once(
    make_app: Any, fake_llm: FakeLLMServer
) -> None:
    app, client = await make_app()
    primary = await create_agent(
        client, enable_sleeptime=True, memory_blocks=[{"label": "human", "value": "Ana"}]
    )
    group, helper = primary["managed_group"], primary["managed_group"]["agent_ids"][0]
    config = {"manager_type": "sleeptime", "sleeptime_agent_frequency": 1}
    await ok(client.patch(f"/v1/groups/{group['id']}", json={"manager_config": config}))
    one = await new_conversation(client, primary["id"])
    two = await new_conversation(client, primary["id"])

    async def settle() -> None:
        await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)

    # The first conversation's turn is still running while the second one's ends and has
    # its sleeptime run read (and cover) the numbers the first one's input already took.
    release = threading.Event()
    fake_llm.state.add(Reply(text="slow reply", hold=release))
    slow = asyncio.create_task(say(client, one, "alpha"))
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 1)
    try:
        beta = await ok(say(client, two, "beta"))
        assert beta["usage"]["run_ids"], "the second conversation's turn triggers sleeptime"
        await settle()
    finally:
        release.set()
    assert (await slow).status_code == 200
    await ok(say(client, "default", "gamma", agent_id=primary["id"]))
    forked = await ok(client.post(f"{CONV}/{one}/fork"))
    await ok(say(client, forked["id"], "delta"))
    await settle()

    history = await ok(client.get(f"/v1/agents/{helper}/messages", params={"limit": 1000}))
    transcripts = [m["content"] for m in history if m["message_type"] == "user_message"]
    assert len(transcripts) >= 3
    for line in (
        "user: alpha",
        "assistant: slow reply",
        "user: beta",
        "assistant: echo: beta",
        "user: gamma",
        "assistant: echo: gamma",
        "user: delta",
        "assistant: echo: delta",
    ):
        assert sum(t.count(line) for t in transcripts) == 1, (line, transcripts)
    assert any(f"[Conversation {one}]" in t for t in transcripts), transcripts


async def test_a_conversation_with_its_own_model(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    own = await ok(
        client.post(
            f"{CONV}/",
            params={"agent_id": agent["id"]},
            json={"model": "openai/gpt-4.1", "model_settings": {"temperature": 0.2}},
        )
    )
    assert own["model"] == "openai/gpt-4.1" and own["model_settings"]["temperature"] == 0.2
    plain = await new_conversation(client, agent["id"])
    await ok(say(client, own["id"], "hi"))
    sent = fake_llm.state.chat_requests[-1]
    assert (sent["model"], sent["temperature"]) == ("gpt-4.1", 0.2)
    await ok(say(client, plain, "hi"))
    assert fake_llm.state.chat_requests[-1]["model"] == "gpt-4o-mini"  # the agent's
    # The request's override_model comes first; then the conversation's model.
    await ok(say(client, own["id"], "hi", override_model="openai/gpt-4o-mini"))
    assert fake_llm.state.chat_requests[-1]["model"] == "gpt-4o-mini"
    switched = await ok(client.patch(f"{CONV}/{plain}", json={"model": "openai/gpt-4.1"}))
    assert switched["model"] == "openai/gpt-4.1"
    assert switched["model_settings"]["temperature"] == 0.7  # the model's default
    await ok(say(client, plain, "hi"))
    assert fake_llm.state.chat_requests[-1]["model"] == "gpt-4.1"
    back = await ok(client.patch(f"{CONV}/{plain}", json={"model": None}))
    assert back["model"] is None and back["model_settings"] is None
    await ok(say(client, plain, "hi"))
    assert fake_llm.state.chat_requests[-1]["model"] == "gpt-4o-mini"
    window = await ok(client.patch(f"{CONV}/{plain}", json={"context_window_limit": 64000}))
    assert window["context_window_limit"] == 64000
    for body in ({"model": "openai/nope"}, {"model": "no-slash"}):
        refused = await client.patch(f"{CONV}/{plain}", json=body)
        assert refused.status_code == 400 and "model" in refused.text, refused.text
    bad_window = await client.patch(f"{CONV}/{plain}", json={"context_window_limit": 0})
    assert bad_window.status_code == 422 and "context_window_limit" in bad_window.text
    agent_now = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert agent_now["model"] == "openai/gpt-4o-mini"  # the agent is never changed


async def test_background_turns_of_two_conversations_run_side_by_side(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent, one, two, release = await two_threads_and_a_slow_reply(client, fake_llm)

    async def background(conversation_id: str, text: str) -> str:
        body = {"messages": [{"role": "user", "content": text}], "background": True}
        response = await client.post(f"{CONV}/{conversation_id}/messages", json=body)
        assert response.status_code == 200, response.text
        return response.text

    slow = asyncio.create_task(background(one, "first"))
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 1)
    try:
        # The first conversation's queued turn is running; the second's is not held back.
        assert "quick" in await background(two, "second")
        running = await ok(client.get("/v1/runs/", params={"conversation_id": one}))
        assert [r["status"] for r in running] == ["running"]
    finally:
        release.set()
    assert "slow" in await slow
    runs = await ok(client.get("/v1/runs/", params={"agent_id": agent["id"]}))
    assert {(r["conversation_id"], r["status"], r["background"]) for r in runs} == {
        (one, "completed", True),
        (two, "completed", True),
    }
