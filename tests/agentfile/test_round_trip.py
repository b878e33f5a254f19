"""Export, import into a fresh server, export again: the same file, and the same agent,
sleeptime included."""

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.kit import migrate
from app.kit.db import Database
from tests.agentfile.conftest import upload
from tests.conftest import DatabaseFactory, clean_tables
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok

AppMaker = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]

LOOKUP = '''
def lookup_order(order_number: int) -> str:
    """Look an order up.

    Args:
        order_number: The order's number.
    """
    return f"Order {order_number} shipped."
'''


@pytest.fixture
async def fresh(
    make_app: AppMaker, database_factory: DatabaseFactory
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """A second server on a database of its own, emptied after the test."""
    url = await database_factory.create()
    db = Database(url)
    try:
        await migrate.upgrade(db.engine)
        yield await make_app(database_url=url)
        await clean_tables(db)
    finally:
        await db.dispose()


async def _settle(app: FastAPI) -> None:
    await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)


def _without_timestamps(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_timestamps(v) for k, v in value.items() if k != "created_at"}
    if isinstance(value, list):
        return [_without_timestamps(v) for v in value]
    return value


async def _exported(make_app: AppMaker, fake_llm: FakeLLMServer) -> dict[str, Any]:
    """The file of a sleeptime primary with a registered tool, rules, tags, secrets and a
    history with a tool call, whose sleeptime agent has run once."""
    app, client = await make_app()
    await ok(client.post("/v1/tools/", json={"source_code": LOOKUP}))
    agent = await create_agent(
        client,
        name="shop",
        enable_sleeptime=True,
        memory_blocks=[{"label": "human", "value": "Ana"}, {"label": "persona", "value": "kind"}],
        tools=["lookup_order"],
        tool_rules=[
            {"tool_name": "lookup_order", "type": "max_count_per_step", "max_count_limit": 2}
        ],
        tags=["shop", "eu"],
        secrets={"SHOP_KEY": "s3cret"},
        metadata={"team": "support"},
        description="Answers about orders",
        timezone="Europe/Paris",
    )
    fake_llm.state.add(
        Reply(tool_calls=[("lookup_order", {"order_number": 7})]),
        Reply(tool_calls=[("send_message", {"message": "Order 7 shipped."})]),
    )
    answer = await ok(
        client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "Where is order 7?"})
    )
    assert answer["usage"]["run_ids"]
    await _settle(app)
    return await ok(client.get(f"/v1/agents/{agent['id']}/export"))  # type: ignore[no-any-return]


async def test_export_import_export_is_exact(
    make_app: AppMaker, fresh: tuple[FastAPI, httpx.AsyncClient], fake_llm: FakeLLMServer
) -> None:
    first = await _exported(make_app, fake_llm)
    assert [a["name"] for a in first["agents"]] == ["shop", "shop-sleeptime"]
    assert first["agents"][0]["secrets"] == {"SHOP_KEY": ""}  # values never leave
    [group] = first["groups"]
    assert group["manager_config"] == {
        "manager_type": "sleeptime",
        "manager_agent_id": "agent-0",
        "sleeptime_agent_frequency": 5,
    }
    assert group["agent_ids"] == ["agent-1"]
    roles = {m["role"] for m in first["agents"][0]["messages"]}
    assert roles == {"system", "user", "assistant", "tool"}
    assert first["agents"][1]["messages"]  # the sleeptime agent's run
    assert {t["name"] for t in first["tools"]} >= {"lookup_order", "memory_insert"}

    _, other = fresh
    imported = await ok(upload(other, first, append_copy_suffix=False))
    assert len(imported["agent_ids"]) == 2
    second = await ok(other.get(f"/v1/agents/{imported['agent_ids'][0]}/export"))
    assert _without_timestamps(second) == _without_timestamps(first)


async def test_an_imported_agent_behaves_the_same_sleeptime_included(
    make_app: AppMaker, fresh: tuple[FastAPI, httpx.AsyncClient], fake_llm: FakeLLMServer
) -> None:
    exported = await _exported(make_app, fake_llm)
    other_app, other = fresh
    imported = await ok(upload(other, exported, secrets='{"SHOP_KEY": "new"}'))
    primary_id, helper_id = imported["agent_ids"]
    primary = await ok(other.get(f"/v1/agents/{primary_id}"))
    assert primary["name"] == "shop_copy" and primary["enable_sleeptime"] is True
    assert primary["managed_group"]["agent_ids"] == [helper_id]
    assert primary["managed_group"]["turns_counter"] == -1
    assert {s["key"]: s["value"] for s in primary["secrets"]} == {"SHOP_KEY": "new"}
    before = await ok(other.get(f"/v1/agents/{primary_id}/messages"))
    assert [m["message_type"] for m in before][-1] in {"tool_call_message", "assistant_message"}

    fake_llm.state.reset()
    fake_llm.state.add(
        Reply(tool_calls=[("send_message", {"message": "Noted."})]),
        Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "Is a pilot"})]),
        Reply(tool_calls=[("memory_finish_edits", {})]),
    )
    answer = await ok(
        other.post(f"/v1/agents/{primary_id}/messages", json={"input": "I fly planes."})
    )
    [run_id] = answer["usage"]["run_ids"]
    await _settle(other_app)
    run = await ok(other.get(f"/v1/runs/{run_id}"))
    assert run["status"] == "completed" and run["agent_id"] == helper_id
    human = await ok(other.get(f"/v1/agents/{primary_id}/core-memory/blocks/human"))
    assert human["value"] == "Ana\nIs a pilot"
    # The model saw the imported history; the sleeptime agent read only the new turn.
    first_call = fake_llm.state.chat_requests[0]["messages"]
    assert any("Order 7 shipped." in str(m.get("content")) for m in first_call)
    transcript = str(fake_llm.state.chat_requests[1]["messages"][-1]["content"])
    assert "I fly planes." in transcript and "Where is order 7?" not in transcript


async def test_a_compacted_agent_keeps_its_summary_in_context(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, name="long", compaction_settings={"mode": "sliding_window"})
    for turn in range(6):
        await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": f"fact {turn}"}))
    fake_llm.state.add(Reply(text="They listed facts 0 to 3."))
    summarized = await ok(client.post(f"/v1/agents/{agent['id']}/summarize"))
    assert summarized["num_messages_after"] < summarized["num_messages_before"]
    first = await ok(client.get(f"/v1/agents/{agent['id']}/export"))
    [exported] = first["agents"]
    messages = {m["id"]: m for m in exported["messages"]}
    in_context = [messages[i] for i in exported["in_context_message_ids"]]
    assert [m["role"] for m in in_context[:2]] == ["system", "summary"]
    assert len(in_context) < len(messages)  # older messages left the window, kept in history
    assert exported["compaction_settings"] is not None

    [copy_id] = (await ok(upload(client, first, append_copy_suffix=False)))["agent_ids"]
    second = await ok(client.get(f"/v1/agents/{copy_id}/export"))
    assert _without_timestamps(second) == _without_timestamps(first)
    fake_llm.state.reset()
    await ok(client.post(f"/v1/agents/{copy_id}/messages", json={"input": "what facts?"}))
    prompt = json.dumps(fake_llm.state.chat_requests[0]["messages"])
    assert "They listed facts 0 to 3." in prompt and "fact 0" not in prompt
