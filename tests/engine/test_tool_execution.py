"""Tools of every kind in a turn: run_code and registered Python tools run in the sandbox and
their results reach the model (the fake OpenAI-compatible server on loopback); a hostile tool
is an error result and the turn goes on; several calls of a step run at once; a slow tool
holds no transaction, so another agent's turn completes while it runs."""

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.agents.models import Agent
from app.kit.db import Database
from app.kit.ids import DEFAULT_ORG_ID
from app.tools.repository import upsert
from app.tools.result import ToolResult, ok
from app.tools.toolset import ExternalContext, ToolDef, ToolKind
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent
from tests.helpers import ok as answered

MakeApp = Callable[..., Awaitable[tuple[FastAPI, httpx.AsyncClient]]]


async def send(client: httpx.AsyncClient, agent_id: str, text: str) -> dict[str, Any]:
    response = client.post(f"/v1/agents/{agent_id}/messages", json={"input": text})
    return await answered(response)  # type: ignore[no-any-return]


def tool_messages(request: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in request["messages"] if m["role"] == "tool"]


def schema(name: str, **properties: str) -> dict[str, Any]:
    return {
        "name": name,
        "description": f"The {name} tool.",
        "parameters": {
            "type": "object",
            "properties": {p: {"type": t} for p, t in properties.items()},
            "required": list(properties),
        },
    }


async def register(db: Database, agent_id: str, name: str, source: str, **properties: str) -> None:
    """Register a Python tool in the organization and give it to the agent."""
    async with db.session() as session:
        await upsert(
            session,
            DEFAULT_ORG_ID,
            name,
            source_code=source,
            source_type="python",
            json_schema=schema(name, **properties),
        )
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        agent.tool_names = [*agent.tool_names, name]


async def set_secrets(db: Database, agent_id: str, **secrets: str) -> None:
    async with db.session() as session:
        agent = await session.get(Agent, agent_id)
        assert agent is not None
        agent.secrets = {k: {"value": v, "description": None} for k, v in secrets.items()}


async def test_run_code_runs_python_and_the_model_sees_its_answer(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, tools=["run_code"])
    code = "print('working')\n6 * 7"
    fake_llm.state.add(
        Reply(tool_calls=[("run_code", {"code": code, "language": "python"})]),
        Reply(text="It is 42."),
    )
    response = await send(client, agent["id"], "what is 6 * 7?")
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    returned = [m for m in response["messages"] if m["message_type"] == "tool_return_message"]
    assert returned[0]["status"] == "success"
    seen = tool_messages(fake_llm.state.chat_requests[-1])
    assert len(seen) == 1
    body = json.loads(_content(seen[0]))
    assert body["results"] == ["42"]
    assert body["logs"]["stdout"] == ["working\n"]
    assert "error" not in body


async def test_run_code_refuses_other_languages_and_the_turn_goes_on(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client, tools=["run_code"])
    fake_llm.state.add(
        Reply(tool_calls=[("run_code", {"code": "console.log(1)", "language": "js"})]),
        Reply(text="I will use Python."),
    )
    response = await send(client, agent["id"], "run some js")
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    seen = _content(tool_messages(fake_llm.state.chat_requests[-1])[0])
    assert "only python" in seen
    assert "`js` is not supported" in seen


async def test_a_registered_tool_is_offered_called_and_its_result_reaches_the_model(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, db: Database
) -> None:
    agent = await create_agent(client)
    source = (
        "import os\n"
        "def lookup(city: str) -> str:\n"
        "    print('looking up', city)\n"
        "    return city.upper() + ' ' + os.environ['WEATHER_TOKEN']\n"
    )
    await register(db, agent["id"], "lookup", source, city="string")
    await set_secrets(db, agent["id"], WEATHER_TOKEN="tok-123")
    fake_llm.state.add(
        Reply(tool_calls=[("lookup", {"city": "paris"})]), Reply(text="Paris it is.")
    )
    await send(client, agent["id"], "look up paris")
    offered = {t["function"]["name"] for t in fake_llm.state.chat_requests[0]["tools"]}
    assert "lookup" in offered
    seen = tool_messages(fake_llm.state.chat_requests[-1])
    assert "PARIS tok-123" in _content(seen[0])
    history = await answered(client.get(f"/v1/agents/{agent['id']}/messages"))
    returned = next(m for m in history if m["message_type"] == "tool_return_message")
    assert returned["stdout"] == ["looking up paris\n"]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("def spin() -> str:\n    while True:\n        pass\n", "CPU time limit of 1 seconds"),
        ("def spin() -> str:\n    raise RuntimeError('no luck')\n", "RuntimeError: no luck"),
        ("def spin() -> str:\n    x = bytearray(2**34)\n", "MemoryError"),
    ],
    ids=["cpu", "raises", "memory"],
)
async def test_a_failing_tool_is_an_error_result_and_the_turn_goes_on(
    make_app: MakeApp, fake_llm: FakeLLMServer, db: Database, source: str, expected: str
) -> None:
    _, client = await make_app(sandbox_cpu_seconds=1)
    agent = await create_agent(client)
    await register(db, agent["id"], "spin", source)
    fake_llm.state.add(Reply(tool_calls=[("spin", {})]), Reply(text="That tool failed."))
    response = await send(client, agent["id"], "spin")
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    kinds = [m["message_type"] for m in response["messages"]]
    assert kinds[-2:] == ["tool_return_message", "assistant_message"]
    returned = response["messages"][-2]
    assert returned["status"] == "error"
    seen = _content(tool_messages(fake_llm.state.chat_requests[-1])[0])
    assert "Error executing function spin" in seen
    assert expected in seen


async def test_a_long_return_is_cut_to_the_tools_limit(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, db: Database
) -> None:
    agent = await create_agent(client)
    await register(db, agent["id"], "chatty", "def chatty() -> str:\n    return 'y' * 500\n")
    async with db.session() as session:
        await upsert(session, DEFAULT_ORG_ID, "chatty", return_char_limit=100)
    fake_llm.state.add(Reply(tool_calls=[("chatty", {})]), Reply(text="Long."))
    await send(client, agent["id"], "talk")
    seen = _content(tool_messages(fake_llm.state.chat_requests[-1])[0])
    assert "y" * 100 + "... [NOTE: function output was truncated" in seen
    assert "(500 > 100)" in seen
    assert "y" * 101 not in seen


async def test_calls_of_one_step_run_at_once_and_answer_in_call_order(
    make_app: MakeApp, fake_llm: FakeLLMServer
) -> None:
    app, client = await make_app()
    started: list[str] = []
    everyone = asyncio.Event()

    async def meet(ctx: ExternalContext, tool: ToolDef, args: dict[str, Any]) -> ToolResult:
        """Each call returns only once all three are running: sequential calls never would."""
        started.append(args["code"])
        if len(started) == 3:
            everyone.set()
        await asyncio.wait_for(everyone.wait(), 30)
        return ok(f"ran {args['code']}")

    app.state.tools.external[ToolKind.server] = meet
    agent = await create_agent(client, tools=["run_code"])
    calls = [("run_code", {"code": c, "language": "python"}) for c in ("a", "b", "c")]
    fake_llm.state.add(Reply(tool_calls=calls), Reply(text="All three ran."))
    response = await send(client, agent["id"], "run three")
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    seen = tool_messages(fake_llm.state.chat_requests[-1])
    assert [_content(m) for m in seen] == ["ran a", "ran b", "ran c"]
    asked = next(m for m in fake_llm.state.chat_requests[-1]["messages"] if m.get("tool_calls"))
    assert [m["tool_call_id"] for m in seen] == [c["id"] for c in asked["tool_calls"]]


async def test_a_slow_tool_holds_no_transaction_while_another_turn_completes(
    make_app: MakeApp, fake_llm: FakeLLMServer
) -> None:
    app, client = await make_app()
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(ctx: ExternalContext, tool: ToolDef, args: dict[str, Any]) -> ToolResult:
        entered.set()
        await release.wait()
        return ok("slow result")

    app.state.tools.external[ToolKind.server] = slow
    slow_agent = await create_agent(client, tools=["run_code"])
    other = await create_agent(client)
    fake_llm.state.add(Reply(tool_calls=[("run_code", {"code": "1", "language": "python"})]))
    first = asyncio.create_task(send(client, slow_agent["id"], "take your time"))
    await asyncio.wait_for(entered.wait(), 30)

    # While the tool runs: another agent's whole turn (two write transactions), and a write
    # to the slow agent's own row, both commit.
    fake_llm.state.add(Reply(text="other agent answered"))
    answer = await asyncio.wait_for(send(client, other["id"], "hello"), 30)
    assert answer["messages"][-1]["content"] == "other agent answered"
    patched = client.patch(f"/v1/agents/{slow_agent['id']}", json={"description": "patched"})
    assert (await asyncio.wait_for(answered(patched), 30))["description"] == "patched"
    assert not first.done()

    fake_llm.state.add(Reply(text="done after the slow tool"))
    release.set()
    response = await asyncio.wait_for(first, 30)
    assert response["messages"][-1]["content"] == "done after the slow tool"
    assert _content(tool_messages(fake_llm.state.chat_requests[-1])[0]) == "slow result"


async def test_a_tool_requiring_approval_runs_only_once_approved(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    rules = [{"type": "requires_approval", "tool_name": "run_code"}]
    agent = await create_agent(client, tools=["run_code"], tool_rules=rules)
    fake_llm.state.add(Reply(tool_calls=[("run_code", {"code": "20 + 1", "language": "python"})]))
    paused = await send(client, agent["id"], "add")
    assert paused["stop_reason"]["stop_reason"] == "requires_approval"
    call_id = paused["messages"][-1]["tool_call"]["tool_call_id"]
    fake_llm.state.add(Reply(text="21."))
    approval = {
        "type": "approval",
        "approvals": [{"type": "approval", "tool_call_id": call_id, "approve": True}],
    }
    resumed = await answered(
        client.post(f"/v1/agents/{agent['id']}/messages", json={"messages": [approval]})
    )
    returned = [m for m in resumed["messages"] if m["message_type"] == "tool_return_message"]
    assert json.loads(returned[0]["tool_return"])["results"] == ["21"]
    assert json.loads(_content(tool_messages(fake_llm.state.chat_requests[-1])[0]))["results"] == [
        "21"
    ]


async def test_running_an_agents_tools_by_hand(client: httpx.AsyncClient, db: Database) -> None:
    agent = await create_agent(client, tools=["run_code"])
    await register(
        db, agent["id"], "double", "def double(x: int) -> int:\n    return x * 2\n", x="integer"
    )
    ran = await answered(
        client.post(f"/v1/agents/{agent['id']}/tools/double/run", json={"args": {"x": 21}})
    )
    assert ran["status"] == "success"
    assert ran["func_return"] == "42"
    code = await answered(
        client.post(
            f"/v1/agents/{agent['id']}/tools/run_code/run",
            json={"args": {"code": "1 + 1", "language": "python"}},
        )
    )
    assert json.loads(code["func_return"])["results"] == ["2"]


def _content(message: dict[str, Any]) -> str:
    """What the tool returned, as the model got it (packaged as Letta does: status, message)."""
    content = message["content"]
    if isinstance(content, list):
        content = "".join(part.get("text", "") for part in content)
    packaged = json.loads(content)
    assert set(packaged) >= {"status", "message"}
    return str(packaged["message"])


async def test_the_sdks_first_agent_searches_and_runs_code_in_one_step(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    """``tools=["web_search", "run_code"]``: both offered, both called in one step; an
    unconfigured search tells the model how to configure it, and the code still runs."""
    agent = await create_agent(client, tools=["web_search", "run_code"])
    calls = [
        ("web_search", {"query": "letta"}),
        ("run_code", {"code": "sum(range(5))", "language": "python"}),
    ]
    fake_llm.state.add(Reply(tool_calls=calls), Reply(text="Searched and summed."))
    response = await send(client, agent["id"], "search and sum")
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    offered = {t["function"]["name"] for t in fake_llm.state.chat_requests[0]["tools"]}
    assert {"web_search", "run_code"} <= offered
    search, code = tool_messages(fake_llm.state.chat_requests[-1])
    assert "SLEEPTIME_WEB_SEARCH_BACKEND" in _content(search)
    assert json.loads(_content(code))["results"] == ["10"]
