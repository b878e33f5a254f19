"""A file that cannot be taken is refused with a 4xx naming the first problem, and nothing
of it is written."""

import copy
import json
from typing import Any

import httpx
import pytest

from tests.agentfile.conftest import letta_file, upload
from tests.helpers import ok


async def _nothing_written(client: httpx.AsyncClient) -> None:
    assert await ok(client.get("/v1/agents/")) == []
    assert await ok(client.get("/v1/blocks/")) == []
    assert await ok(client.get("/v1/groups/")) == []
    tools = await ok(client.get("/v1/tools/", params={"limit": 100}))
    assert [t["name"] for t in tools if t["tool_type"] in ("custom", "external_mcp")] == []
    assert await ok(client.get("/v1/mcp-servers/")) == []


def _changed(name: str, change: Any) -> dict[str, Any]:
    data = copy.deepcopy(letta_file(name))
    change(data)
    return data


def _tool(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(t for t in data["tools"] if t["name"] == name)


CASES = [
    ("not json", b"{not json", 400, "not JSON"),
    ("not an agent file", b'{"name": "legacy agent"}', 400, "agents"),
    ("empty agents", b'{"agents": []}', 422, "agents"),
    (
        "agent without id",
        _changed("memgpt_agent.af", lambda d: d["agents"][0].pop("id")),
        422,
        "agents.0.id",
    ),
    (
        "bad message role",
        _changed(
            "memgpt_agent.af", lambda d: d["agents"][0]["messages"][0].update(role="narrator")
        ),
        422,
        "agents.0.messages.0.role",
    ),
    (
        "unknown agent type",
        _changed("memgpt_agent.af", lambda d: d["agents"][0].update(agent_type="react_agent")),
        400,
        "agent_type 'react_agent' is not supported",
    ),
    (
        "a composio tool",
        _changed(
            "customer_service.af",
            lambda d: _tool(d, "escalate").update(tool_type="external_composio"),
        ),
        400,
        "'escalate' is a external_composio tool",
    ),
    (
        "a typescript tool",
        _changed(
            "customer_service.af", lambda d: _tool(d, "escalate").update(source_type="typescript")
        ),
        400,
        "source_type 'typescript'",
    ),
    (
        "a Letta built-in we lack",
        _changed(
            "memgpt_agent.af",
            lambda d: d["tools"][0].update(name="send_message_to_agent_async"),
        ),
        400,
        "send_message_to_agent_async",
    ),
    (
        "a tool that does not parse",
        _changed(
            "customer_service.af",
            lambda d: _tool(d, "terminate_chat").update(source_code="def terminate_chat(:"),
        ),
        400,
        "terminate_chat",
    ),
    (
        "a dangling block id",
        _changed("memgpt_agent.af", lambda d: d["agents"][0]["block_ids"].append("block-9")),
        422,
        "block-9",
    ),
    (
        "a round robin group",
        _changed(
            "memgpt_agent.af",
            lambda d: d["groups"].append(
                {
                    "id": "group-0",
                    "agent_ids": [],
                    "description": "",
                    "manager_config": {"manager_type": "round_robin"},
                }
            ),
        ),
        400,
        "round_robin",
    ),
    (
        "folders",
        _changed("memgpt_agent.af", lambda d: d["sources"].append({"id": "source-0"})),
        400,
        "folders",
    ),
    (
        "a name too long for its column",
        _changed("memgpt_agent.af", lambda d: d["agents"][0].update(name="n" * 256)),
        422,
        "agents.0.name",
    ),
    (
        "an MCP tool with a name models refuse",
        _changed(
            "memgpt_agent.af",
            lambda d: d["tools"].append(
                {"id": "tool-9", "tool_type": "external_mcp", "name": "a b", "json_schema": {}}
            ),
        ),
        400,
        "'a b' is not a valid tool name",
    ),
    (
        "an id used twice",
        _changed("memgpt_agent.af", lambda d: d["blocks"][1].update(id="block-0")),
        422,
        "'block-0' is used twice",
    ),
    (
        "U+0000",
        _changed("memgpt_agent.af", lambda d: d["blocks"][0].update(value="a\x00b")),
        422,
        "U+0000",
    ),
]


@pytest.mark.parametrize(
    ("content", "status", "says"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
async def test_refused_and_nothing_written(
    client: httpx.AsyncClient, content: bytes | dict[str, Any], status: int, says: str
) -> None:
    response = await upload(client, content)
    assert response.status_code == status, response.text
    assert says in json.dumps(response.json()["detail"]), response.text
    await _nothing_written(client)


@pytest.mark.parametrize(
    ("form", "says"),
    [
        ({"name": "x\x00y"}, "U+0000"),
        ({"name": "n" * 251}, "longer than 255"),
        ({"secrets": "[1]"}, "secrets"),
    ],
)
async def test_refused_options(client: httpx.AsyncClient, form: dict[str, str], says: str) -> None:
    response = await upload(client, letta_file("memgpt_agent.af"), **form)
    assert response.status_code in (400, 422), response.text
    assert says in json.dumps(response.json()["detail"]), response.text
    await _nothing_written(client)


async def test_a_model_whose_provider_is_not_configured(client: httpx.AsyncClient) -> None:
    data = _changed(
        "memgpt_agent.af",
        lambda d: d["agents"][0]["llm_config"].update(
            handle="anthropic/claude-sonnet-4", model_endpoint_type="anthropic"
        ),
    )
    response = await upload(client, data)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert "provider 'anthropic' is not configured" in detail and "`model`" in detail
    await _nothing_written(client)
    imported = await ok(upload(client, data, model="openai/gpt-4.1"))
    agent = await ok(client.get(f"/v1/agents/{imported['agent_ids'][0]}"))
    assert agent["model"] == "openai/gpt-4.1"


async def test_stdio_mcp_servers_when_disabled(make_client: Any) -> None:
    client = await make_client(mcp_stdio=False)
    data = _changed(
        "memgpt_agent.af",
        lambda d: d["mcp_servers"].append(
            {
                "id": "mcp_server-0",
                "server_type": "stdio",
                "server_name": "local",
                "stdio_config": {"command": "true", "args": []},
            }
        ),
    )
    response = await upload(client, data)
    assert response.status_code == 400 and "stdio" in response.json()["detail"]
    await _nothing_written(client)
