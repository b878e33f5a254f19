"""An agent's turn calls MCP tools: the model (the fake OpenAI server on loopback) is
offered the MCP tool's schema, the call goes to the MCP server over its stdio session, and
the result, or the failure, reaches the model in the next step while the turn goes on."""

import json
from typing import Any

import httpx

from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok
from tests.mcp.conftest import stdio_config
from tests.mcp.test_mcp_servers import create


def tool_results(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in response["messages"] if m["message_type"] == "tool_return_message"]


async def send(client: httpx.AsyncClient, agent_id: str, text: str) -> dict[str, Any]:
    body = {"messages": [{"role": "user", "content": text}]}
    return await ok(client.post(f"/v1/agents/{agent_id}/messages", json=body))  # type: ignore[no-any-return]


def tool_messages(request: dict[str, Any]) -> list[str]:
    return [m["content"] for m in request["messages"] if m["role"] == "tool"]


async def test_an_agent_calls_an_mcp_tool(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    await create(client, "local", stdio_config())
    agent = await create_agent(client, tools=["add", "fail"])
    fake_llm.state.add(
        Reply(tool_calls=[("add", {"a": 19, "b": 23})]),
        Reply(tool_calls=[("fail", {"reason": "the printer is on fire"})]),
        Reply(text="19 + 23 = 42, and the other tool failed."),
    )
    response = await send(client, agent["id"], "What is 19 + 23?")

    added, failed = tool_results(response)
    assert (added["name"], added["status"], added["tool_return"]) == ("add", "success", "42")
    assert (failed["name"], failed["status"]) == ("fail", "error")
    assert "the printer is on fire" in failed["tool_return"]
    assert response["messages"][-1]["message_type"] == "assistant_message"
    assert response["stop_reason"]["stop_reason"] == "end_turn"

    first, second, third = fake_llm.state.chat_requests[-3:]
    offered = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert offered["add"]["description"] == "Add two integers."
    assert offered["add"]["parameters"]["properties"]["a"]["type"] == "integer"
    assert any("42" in content for content in tool_messages(second))
    assert any("the printer is on fire" in json.dumps(c) for c in tool_messages(third))


async def test_a_server_that_is_down_gives_the_model_an_error_and_the_turn_goes_on(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    server = await create(client, "local", stdio_config())
    agent = await create_agent(client, tools=["add"])
    broken = {"mcp_server_type": "stdio", "command": "/nonexistent/mcp-server", "args": []}
    await ok(client.patch(f"/v1/mcp-servers/{server['id']}", json={"config": broken}))
    fake_llm.state.add(
        Reply(tool_calls=[("add", {"a": 1, "b": 1})]), Reply(text="The tool is unavailable.")
    )
    response = await send(client, agent["id"], "What is 1 + 1?")
    (result,) = tool_results(response)
    assert result["status"] == "error"
    assert "cannot connect to MCP server 'local'" in result["tool_return"]
    assert response["messages"][-1]["content"] == "The tool is unavailable."
    assert response["stop_reason"]["stop_reason"] == "end_turn"


async def test_an_mcp_tool_requiring_approval_runs_only_once_approved(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    await create(client, "local", stdio_config())
    rules = [{"type": "requires_approval", "tool_name": "pid"}]
    agent = await create_agent(client, tools=["pid"], tool_rules=rules)
    fake_llm.state.add(Reply(tool_calls=[("pid", {})]))
    paused = await send(client, agent["id"], "Which process?")
    assert paused["stop_reason"]["stop_reason"] == "requires_approval"
    assert tool_results(paused) == []
    call_id = paused["messages"][-1]["tool_call"]["tool_call_id"]

    fake_llm.state.add(Reply(text="Done."))
    approval = {
        "type": "approval",
        "approvals": [{"type": "approval", "tool_call_id": call_id, "approve": True}],
    }
    body = {"messages": [approval]}
    resumed = await ok(client.post(f"/v1/agents/{agent['id']}/messages", json=body))
    (result,) = tool_results(resumed)
    assert result["status"] == "success"
    assert int(result["tool_return"]) > 0


async def test_an_agents_mcp_tool_run_by_hand(client: httpx.AsyncClient) -> None:
    await create(client, "local", stdio_config())
    agent = await create_agent(client, tools=["echo"])
    ran = await ok(
        client.post(f"/v1/agents/{agent['id']}/tools/echo/run", json={"args": {"text": "hi"}})
    )
    assert (ran["status"], ran["func_return"]) == ("success", "hi")
