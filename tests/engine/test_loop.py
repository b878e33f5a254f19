"""The loop with an in-process scripted model: no HTTP to a model at all."""

from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.providers.base import (
    LLMRequest,
    LLMResponse,
    ProviderServerError,
    StreamEnd,
    StreamItem,
    ToolCall,
    Usage,
)
from app.providers.registry import ModelInfo
from tests.helpers import create_agent, ok

Script = deque[LLMResponse | Exception]


class ScriptedModel:
    """Answers from a script, turn by turn, and keeps every request it was sent."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[LLMRequest] = []

    async def complete(self, request: LLMRequest) -> LLMResponse:
        self.requests.append(request)
        item = self.script.popleft()
        if isinstance(item, Exception):
            raise item
        return item

    async def stream(self, request: LLMRequest) -> AsyncIterator[StreamItem]:
        yield StreamEnd(await self.complete(request))


def text(value: str, finish: str = "stop") -> LLMResponse:
    return LLMResponse(text=value, tool_calls=[], finish_reason=finish, usage=Usage(5, 3))  # type: ignore[arg-type]


def call(name: str, arguments: str, call_id: str = "call_1") -> LLMResponse:
    return LLMResponse(
        text="",
        tool_calls=[ToolCall(call_id, name, arguments)],
        finish_reason="tool_calls",
        usage=Usage(5, 3),
    )


@pytest.fixture
async def scripted(
    make_app: Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]],
) -> tuple[httpx.AsyncClient, ScriptedModel]:
    return await _scripted(make_app)


@pytest.fixture
async def evicting(
    make_app: Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]],
) -> tuple[httpx.AsyncClient, ScriptedModel]:
    """A scripted model on a server that evicts a full window's oldest messages without
    summarising them (compaction off)."""
    return await _scripted(make_app, compaction_enabled=False)


async def _scripted(
    make_app: Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]], **settings: Any
) -> tuple[httpx.AsyncClient, ScriptedModel]:
    app, client = await make_app(**settings)
    model = ScriptedModel(deque())

    def providers(info: ModelInfo) -> ScriptedModel:
        return model

    app.state.turns.deps.engine.providers = providers
    return client, model


async def _send(
    client: httpx.AsyncClient, agent_id: str, text_: str, **body: Any
) -> dict[str, Any]:
    return await ok(client.post(f"/v1/agents/{agent_id}/messages", json={"input": text_, **body}))  # type: ignore[no-any-return]


async def test_text_ends_the_turn(scripted: tuple[httpx.AsyncClient, ScriptedModel]) -> None:
    client, model = scripted
    agent = await create_agent(client)
    model.script.append(text("hi"))
    response = await _send(client, agent["id"], "hello")
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    request = model.requests[0]
    assert request.model == "gpt-4o-mini"
    assert request.messages[-1] == {"role": "user", "content": "hello"}


async def test_length_without_tool_call_is_max_tokens_exceeded(
    scripted: tuple[httpx.AsyncClient, ScriptedModel],
) -> None:
    client, model = scripted
    agent = await create_agent(client)
    model.script.append(text("cut off", finish="length"))
    response = await _send(client, agent["id"], "write a novel")
    assert response["stop_reason"]["stop_reason"] == "max_tokens_exceeded"
    run = await ok(client.get(f"/v1/runs/{response['messages'][0]['run_id']}"))
    assert run["status"] == "failed"


async def test_bad_tool_arguments_go_back_to_the_model(
    scripted: tuple[httpx.AsyncClient, ScriptedModel],
) -> None:
    client, model = scripted
    agent = await create_agent(
        client, tools=["memory_rethink"], memory_blocks=[{"label": "human", "value": "1→ x"}]
    )
    model.script.extend([
        call("memory_insert", "{not json"),
        call("memory_replace", '{"label": "human", "old_string": "1→ x", "new_string": ""}', "c2"),
        call("memory_rethink", '{"label": "human", "new_memory": 5}', "call_3"),
        text("done"),
    ])  # fmt: skip
    response = await _send(client, agent["id"], "go")
    returns = [m for m in response["messages"] if m["message_type"] == "tool_return_message"]
    assert [r["status"] for r in returns] == ["error"] * 3
    assert "not valid JSON" in returns[0]["tool_return"]
    assert "line-number" in returns[1]["tool_return"]
    assert "must be a string" in returns[2]["tool_return"]
    assert response["stop_reason"]["stop_reason"] == "end_turn"


async def test_memory_replace_needs_a_unique_match(
    scripted: tuple[httpx.AsyncClient, ScriptedModel],
) -> None:
    client, model = scripted
    agent = await create_agent(
        client, tools=["core_memory_append"], memory_blocks=[{"label": "human", "value": "a\na"}]
    )
    model.script.extend([
        call("memory_replace", '{"label": "human", "old_string": "a", "new_string": "b"}'),
        call("memory_replace", '{"label": "human", "old_string": "zz", "new_string": "b"}', "c2"),
        call("core_memory_append", '{"label": "human", "content": "c"}', "call_3"),
        text("done"),
    ])  # fmt: skip
    await _send(client, agent["id"], "go")
    tool_results = [m for m in model.requests[-1].messages if m["role"] == "tool"]
    assert "occurs 2 times" in tool_results[0]["content"]
    assert "does not appear verbatim" in tool_results[1]["content"]
    block = await ok(client.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human"))
    assert block["value"] == "a\na\nc"


async def test_read_only_blocks_refuse_tool_edits(
    scripted: tuple[httpx.AsyncClient, ScriptedModel],
) -> None:
    client, model = scripted
    agent = await create_agent(
        client,
        tools=["memory_rethink"],
        memory_blocks=[{"label": "policy", "value": "fixed", "read_only": True}],
    )
    model.script.extend(
        [call("memory_rethink", '{"label": "policy", "new_memory": "x"}'), text("ok")]
    )
    response = await _send(client, agent["id"], "go")
    assert "read-only" in response["messages"][1]["tool_return"]
    block = await ok(client.get(f"/v1/agents/{agent['id']}/core-memory/blocks/policy"))
    assert block["value"] == "fixed"


async def test_provider_error_ends_the_run(
    scripted: tuple[httpx.AsyncClient, ScriptedModel],
) -> None:
    client, model = scripted
    agent = await create_agent(client)
    model.script.extend(
        [call("conversation_search", "{}"), ProviderServerError("upstream down", status_code=502)]
    )
    failed = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "go"})
    assert failed.status_code == 502  # the JSON path raises; the step before it stays stored
    stored = await ok(client.get(f"/v1/runs/{failed.json()['run_id']}/messages"))
    assert [m["message_type"] for m in stored][-2:] == [
        "tool_call_message",
        "tool_return_message",
    ]
    run = await ok(client.get(f"/v1/runs/{failed.json()['run_id']}"))
    assert run["stop_reason"] == "llm_api_error"
    assert run["status"] == "failed" and run["error"]["message"] == "upstream down"
    steps = await ok(client.get(f"/v1/runs/{run['id']}/steps", params={"order": "asc"}))
    assert [s["status"] for s in steps] == ["success", "failed"]


async def test_old_messages_are_evicted_but_stay_searchable(
    evicting: tuple[httpx.AsyncClient, ScriptedModel],
) -> None:
    client, model = evicting
    agent = await create_agent(client, context_window_limit=6000, max_tokens=100)
    for i in range(12):
        model.script.append(text(f"reply {i}"))
        await _send(client, agent["id"], f"message {i}: " + "x" * 2000)
    sent = model.requests[-1].messages
    contents = [m["content"] for m in sent if m["role"] == "user"]
    assert len(contents) < 12
    assert contents[-1].startswith("message 11")
    assert "previous messages between you and the user" in sent[0]["content"]
    history = await ok(client.get(f"/v1/agents/{agent['id']}/messages", params={"limit": 1000}))
    assert len(history) == 1 + 24  # evicted from context, never from history
    state = await ok(client.get(f"/v1/agents/{agent['id']}"))
    in_context = state["message_ids"]
    assert in_context[0] == history[0]["id"]  # the system message stays in context
    assert 1 < len(in_context) < 25 and in_context[-1] == history[-1]["id"]
    model.script.extend([call("conversation_search", '{"query": "message 0:"}'), text("found")])
    await _send(client, agent["id"], "what did I say first?")
    tool = [m for m in model.requests[-1].messages if m["role"] == "tool"][-1]
    assert "message 0:" in tool["content"]


async def test_eviction_keeps_tool_calls_with_their_results(
    evicting: tuple[httpx.AsyncClient, ScriptedModel],
) -> None:
    client, model = evicting
    agent = await create_agent(client, context_window_limit=5000, max_tokens=100)
    for i in range(8):
        model.script.extend(
            [call("conversation_search", '{"query": "' + "q" * 1500 + '"}', f"c{i}"), text(f"r{i}")]
        )
        await _send(client, agent["id"], f"turn {i} " + "y" * 1500)
    for request in model.requests:
        chat = request.messages[1:]
        assert chat[0]["role"] != "tool"
        ids_called = {
            c["id"] for m in chat if m["role"] == "assistant" for c in m.get("tool_calls") or []
        }
        ids_answered = {m["tool_call_id"] for m in chat if m["role"] == "tool"}
        assert ids_answered <= ids_called


async def test_system_prompt_overflow(scripted: tuple[httpx.AsyncClient, ScriptedModel]) -> None:
    client, model = scripted
    agent = await create_agent(
        client, context_window_limit=1000, memory_blocks=[{"label": "big", "value": "z" * 8000}]
    )
    response = await _send(client, agent["id"], "hi")
    assert response["stop_reason"]["stop_reason"] == "context_window_overflow_in_system_prompt"
    assert model.requests == []
    runs = await ok(client.get("/v1/runs/", params={"agent_id": agent["id"]}))
    assert runs[0]["status"] == "failed"


async def test_message_list_cursors_are_chronological(
    scripted: tuple[httpx.AsyncClient, ScriptedModel],
) -> None:
    client, model = scripted
    agent = await create_agent(client)
    for i in range(3):
        model.script.append(text(f"r{i}"))
        await _send(client, agent["id"], f"u{i}")
    path = f"/v1/agents/{agent['id']}/messages"
    everything = await ok(client.get(path))
    assert everything[0]["message_type"] == "system_message"
    assert [m.get("content") for m in everything[1:]] == ["u0", "r0", "u1", "r1", "u2", "r2"]
    newest = await ok(client.get(path, params={"limit": 2}))
    assert [m["content"] for m in newest] == ["u2", "r2"]
    oldest = await ok(client.get(path, params={"limit": 3, "order": "asc"}))
    assert [m["message_type"] for m in oldest] == [
        "system_message",
        "user_message",
        "assistant_message",
    ]
    after = await ok(client.get(path, params={"after": everything[2]["id"], "limit": 2}))
    assert [m["content"] for m in after] == ["u1", "r1"]
    before = await ok(client.get(path, params={"before": everything[5]["id"], "limit": 2}))
    assert [m["content"] for m in before] == ["u1", "r1"]
    only = await ok(client.get(path, params={"include_return_message_types": ["user_message"]}))
    assert [m["content"] for m in only] == ["u0", "u1", "u2"]
    assert (await client.get(path, params={"after": "message-nope"})).status_code == 400
