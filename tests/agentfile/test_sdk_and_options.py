"""The official SDK's ``agents.export_file`` / ``agents.import_file``, and the options."""

import json
from typing import Any

import httpx
import pytest
from letta_client import AsyncLetta, BadRequestError

from tests.agentfile.conftest import FIXTURES, letta_file, upload
from tests.conftest import MODEL, AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok

MINE = '''
def escalate(reason: str) -> str:
    """Mine.

    Args:
        reason: why
    """
    return "mine"
'''


@pytest.fixture
async def sdk(make_client: AppFactory) -> AsyncLetta:
    http = await make_client()
    return AsyncLetta(base_url="http://testserver", http_client=http, max_retries=0)


async def test_sdk_export_and_import(sdk: AsyncLetta) -> None:
    agent = await sdk.agents.create(
        name="sdk-af",
        model=MODEL,
        memory_blocks=[{"label": "human", "value": "Ana"}],
        enable_sleeptime=True,
    )
    text = await sdk.agents.export_file(agent.id)
    data = json.loads(text)
    assert [a["name"] for a in data["agents"]] == ["sdk-af", "sdk-af-sleeptime"]
    assert data["agents"][0]["messages"]  # the boot sequence
    imported = await sdk.agents.import_file(
        file=("agent.af", text.encode()),
        append_copy_suffix=False,
        name="renamed",
        model="openai/gpt-4.1",
        strip_messages=True,
        secrets='{"TOKEN": "t"}',
    )
    primary_id, helper_id = imported.agent_ids
    primary = await sdk.agents.retrieve(primary_id)
    helper = await sdk.agents.retrieve(helper_id)
    assert (primary.name, helper.name) == ("renamed", "renamed-sleeptime")
    assert primary.model == helper.model == "openai/gpt-4.1"
    assert primary.managed_group is not None and primary.managed_group.agent_ids == [helper_id]
    assert [s.key for s in primary.secrets or []] == ["TOKEN"]
    messages = [m async for m in sdk.agents.messages.list(primary_id)]
    assert [m.message_type for m in messages] == ["system_message"]

    scrubbed = json.loads(await sdk.agents.export_file(agent.id, scrub_messages=True))
    assert [a["messages"] for a in scrubbed["agents"]] == [[], []]
    with pytest.raises(BadRequestError, match="legacy"):
        await sdk.agents.export_file(agent.id, use_legacy_format=True)
    with pytest.raises(BadRequestError, match="not JSON"):
        await sdk.agents.import_file(file=("agent.af", b"\x00\x01"))


async def test_export_with_skills(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, name="skilled")
    skill = {"name": "greet", "files": {"SKILL.md": "Say hello."}}
    data = await ok(client.post(f"/v1/agents/{agent['id']}/export", json={"skills": [skill]}))
    assert data["skills"] == [skill]
    assert (await ok(client.post(f"/v1/agents/{agent['id']}/export")))["skills"] == []
    missing = await client.get("/v1/agents/agent-00000000-0000-4000-8000-000000000000/export")
    assert missing.status_code == 404


async def test_export_a_conversation_instead_of_the_main_thread(
    client: httpx.AsyncClient,
) -> None:
    agent = await create_agent(client, name="talker")
    turn = {"input": "in the main thread"}
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json=turn))
    conversation = await ok(client.post("/v1/conversations/", params={"agent_id": agent["id"]}))
    turn = {"input": "in the conversation", "streaming": False}
    await ok(client.post(f"/v1/conversations/{conversation['id']}/messages", json=turn))

    def texts(data: dict[str, Any]) -> list[str]:
        [exported] = data["agents"]
        return [m["content"][0]["text"] for m in exported["messages"] if m["role"] == "user"]

    main = await ok(client.get(f"/v1/agents/{agent['id']}/export?conversation_id=default"))
    assert texts(main) == ["in the main thread"]
    path = f"/v1/agents/{agent['id']}/export"
    talk = await ok(client.get(path, params={"conversation_id": conversation["id"]}))
    assert texts(talk) == ["in the conversation"]
    [exported] = talk["agents"]
    assert exported["in_context_message_ids"] == [m["id"] for m in exported["messages"]]
    assert exported["messages"][0]["role"] == "system"
    body = {"conversation_id": conversation["id"]}
    assert texts(await ok(client.post(path, json=body))) == ["in the conversation"]
    other = await create_agent(client, name="other")
    refused = await client.get(
        f"/v1/agents/{other['id']}/export", params={"conversation_id": conversation["id"]}
    )
    assert refused.status_code == 404


async def test_existing_tools_are_overwritten_unless_told_not_to(
    client: httpx.AsyncClient,
) -> None:
    mine = MINE
    await ok(client.post("/v1/tools/", json={"source_code": mine}))
    raw = (FIXTURES / "customer_service.af").read_bytes()
    await ok(upload(client, raw, override_existing_tools=False))
    tools = {t["name"]: t for t in await ok(client.get("/v1/tools/", params={"limit": 50}))}
    assert tools["escalate"]["source_code"] == mine
    await ok(upload(client, raw))  # Letta's default: the file's tool wins
    tools = {t["name"]: t for t in await ok(client.get("/v1/tools/", params={"limit": 50}))}
    theirs = next(t for t in letta_file("customer_service.af")["tools"] if t["name"] == "escalate")
    assert tools["escalate"]["source_code"] == theirs["source_code"]
    assert len(await ok(client.get("/v1/agents/"))) == 2


async def test_letta_built_ins_not_served_here_are_left_out(client: httpx.AsyncClient) -> None:
    data = letta_file("memgpt_agent.af")
    search = data["tools"][0]
    data["tools"].append({**search, "id": "tool-9", "name": "open_files"})
    data["agents"][0]["tool_ids"].append("tool-9")
    data["agents"][0]["tool_rules"] = [{"tool_name": "open_files", "type": "exit_loop"}]
    imported = await ok(upload(client, data))
    assert imported["skipped_tools"] == ["open_files"]
    agent = await ok(client.get(f"/v1/agents/{imported['agent_ids'][0]}"))
    assert "open_files" not in [t["name"] for t in agent["tools"]]
    assert agent["tool_rules"] == []


def _with_mcp_tool(server_name: str) -> dict[str, Any]:
    data = letta_file("memgpt_agent.af")
    data["mcp_servers"] = [
        {
            "id": "mcp_server-0",
            "server_type": "streamable_http",
            "server_name": server_name,
            "server_url": "http://127.0.0.1:9/mcp",
            "stdio_config": None,
            "metadata_": {},
        }
    ]
    schema = {
        "name": "lookup",
        "description": "Look it up.",
        "parameters": {"type": "object", "properties": {"q": {"type": "string"}}, "required": []},
    }
    data["tools"].append(
        {
            "id": "tool-9",
            "tool_type": "external_mcp",
            "name": "lookup",
            "description": "Look it up.",
            "json_schema": schema,
            "metadata_": {"mcp": {"server_name": server_name, "server_id": "mcp_server-0"}},
        }
    )
    data["agents"][0]["tool_ids"].append("tool-9")
    return data


async def test_mcp_servers_and_their_tools(client: httpx.AsyncClient) -> None:
    imported = await ok(upload(client, _with_mcp_tool("docs"), append_copy_suffix=False))
    [server] = await ok(client.get("/v1/mcp-servers/"))
    assert (server["server_name"], server["server_url"]) == ("docs", "http://127.0.0.1:9/mcp")
    agent = await ok(client.get(f"/v1/agents/{imported['agent_ids'][0]}"))
    [tool] = [t for t in agent["tools"] if t["name"] == "lookup"]
    assert tool["tool_type"] == "external_mcp"
    assert tool["metadata_"]["mcp"] == {"server_name": "docs", "server_id": server["id"]}
    exported = await ok(client.get(f"/v1/agents/{agent['id']}/export"))
    assert [s["server_name"] for s in exported["mcp_servers"]] == ["docs"]
    [mcp_tool] = [t for t in exported["tools"] if t["name"] == "lookup"]
    assert mcp_tool["metadata_"]["mcp"]["server_id"] == exported["mcp_servers"][0]["id"]
    await ok(upload(client, exported))  # the same server is reused, not duplicated
    assert len(await ok(client.get("/v1/mcp-servers/"))) == 1


async def test_an_agent_waiting_for_approval_still_waits(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(
        client,
        name="careful",
        tools=["web_search"],
        tool_rules=[{"tool_name": "web_search", "type": "requires_approval"}],
    )
    fake_llm.state.add(Reply(tool_calls=[("web_search", {"query": "news"})]))
    paused = await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "news?"}))
    assert paused["stop_reason"]["stop_reason"] == "requires_approval"
    exported = await ok(client.get(f"/v1/agents/{agent['id']}/export"))
    assert exported["agents"][0]["messages"][-1]["role"] == "approval"
    [call] = exported["agents"][0]["messages"][-1]["tool_calls"]
    [copy_id] = (await ok(upload(client, exported)))["agent_ids"]
    busy = await client.post(f"/v1/agents/{copy_id}/messages", json={"input": "hello?"})
    assert busy.status_code == 409 and busy.json()["detail"]["code"] == "PENDING_APPROVAL"
    fake_llm.state.add(Reply(text="Fine, no search."))
    denial = {"type": "approval", "tool_call_id": call["id"], "approve": False}
    answer = await ok(
        client.post(
            f"/v1/agents/{copy_id}/messages",
            json={"messages": [{"type": "approval", "approvals": [denial]}]},
        )
    )
    assert answer["messages"][-1]["content"] == "Fine, no search."
