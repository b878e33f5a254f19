from typing import Any

import httpx
import pytest

from tests.conftest import MODEL
from tests.helpers import create_agent, create_block, ok, page_all

MISSING_AGENT = "agent-00000000-0000-4000-8000-000000000000"
MISSING_BLOCK = "block-00000000-0000-4000-8000-000000000000"


async def test_create_with_memory_blocks_and_block_ids(client: httpx.AsyncClient) -> None:
    shared = await create_block(client, label="project", value="Apollo")
    agent = await create_agent(
        client,
        name="ana's helper",
        memory_blocks=[
            {"label": "human", "value": "Name: Ana"},
            {"label": "persona", "value": "kind"},
        ],
        block_ids=[shared["id"]],
        tags=["b", "a", "a"],
        description="desc",
        metadata={"team": "x"},
    )
    assert agent["id"].startswith("agent-")
    assert agent["agent_type"] == "letta_v1_agent"
    assert agent["name"] == "ana's helper"
    labels = [b["label"] for b in agent["blocks"]]
    assert sorted(labels) == ["human", "persona", "project"]
    assert agent["memory"]["blocks"] == agent["blocks"]
    human = next(b for b in agent["blocks"] if b["label"] == "human")
    assert human["description"]  # human/persona get a default description
    assert agent["tags"] == ["a", "b"]
    assert agent["llm_config"]["model"] == "gpt-4o-mini"
    assert agent["llm_config"]["model_endpoint_type"] == "openai"
    assert agent["llm_config"]["context_window"] > 0
    assert [t["name"] for t in agent["tools"]] == [
        "conversation_search",
        "memory_replace",
        "memory_insert",
    ]
    assert agent["tool_rules"] == []
    assert agent["enable_sleeptime"] is False
    assert agent["managed_group"] is None
    assert agent["system"]
    assert agent["sources"] == []
    [system_id] = agent["message_ids"]  # a letta_v1_agent starts with its system message only
    [system] = await ok(client.get(f"/v1/agents/{agent['id']}/messages"))
    assert (system["id"], system["message_type"]) == (system_id, "system_message")
    assert "Name: Ana" in system["content"] and "Apollo" in system["content"]
    assert agent["model_settings"] == {
        "provider_type": "openai",
        "max_output_tokens": 4096,
        "parallel_tool_calls": False,
        "temperature": 0.7,
        "reasoning": {"reasoning_effort": "minimal"},
        "response_format": None,
        "strict": False,
    }
    assert agent["llm_config"]["temperature"] == 0.7


async def test_defaults_per_agent_type(client: httpx.AsyncClient) -> None:
    unnamed = await create_agent(client)
    assert unnamed["name"]
    v2 = await create_agent(client, agent_type="memgpt_v2_agent")
    assert v2["tools"][0]["name"] == "send_message"
    assert {"tool_name": "send_message", "type": "exit_loop"} in v2["tool_rules"]
    bare = await create_agent(client, include_base_tools=False, tools=["send_message"])
    assert [t["name"] for t in bare["tools"]] == ["send_message"]
    tool_id = bare["tools"][0]["id"]
    by_id = await create_agent(client, include_base_tools=False, tool_ids=[tool_id])
    assert [t["name"] for t in by_id["tools"]] == ["send_message"]
    rules = [{"tool_name": "memory_insert", "type": "requires_approval"}]
    ruled = await create_agent(client, tool_rules=rules)
    assert ruled["tool_rules"] == rules


async def test_model_from_llm_config(client: httpx.AsyncClient) -> None:
    agent = await ok(
        client.post(
            "/v1/agents/",
            json={
                "llm_config": {
                    "model": "gpt-4.1",
                    "model_endpoint_type": "openai",
                    "context_window": 8000,
                }
            },
        )
    )
    assert agent["model"] == "openai/gpt-4.1"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "model"),
        ({"model": "gpt-4o-mini"}, "provider/model-name"),
        ({"model": "anthropic/claude-x"}, "openai"),
        ({"model": "openai/not-offered"}, "gpt-4o-mini"),
        ({"model": MODEL, "agent_type": "react_agent"}, "agent_type"),
        ({"model": MODEL, "tools": ["rm_rf"]}, "rm_rf"),
        (
            {
                "model": MODEL,
                "memory_blocks": [{"label": "a", "value": ""}, {"label": "a", "value": ""}],
            },
            "'a'",
        ),
    ],
)
async def test_create_refuses_bad_input_with_400(
    client: httpx.AsyncClient, body: dict[str, Any], needle: str
) -> None:
    response = await client.post("/v1/agents/", json=body)
    assert response.status_code == 400, response.text
    assert needle in response.json()["detail"]
    assert await ok(client.get("/v1/agents/")) == []
    assert await ok(client.get("/v1/blocks/")) == []


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model": MODEL, "name": "semi;colon"}, 422),
        ({"model": MODEL, "name": ""}, 422),
        ({"model": MODEL, "tags": "not-a-list"}, 422),
        ({"model": MODEL, "memory_blocks": [{"value": "no label"}]}, 422),
        ({"model": MODEL, "memory_blocks": [{"label": "h", "value": "toolong", "limit": 3}]}, 422),
        ({"model": MODEL, "tool_rules": [{"tool_name": "x", "type": "teleport"}]}, 422),
        ({"model": MODEL, "context_window_limit": -1}, 422),
        ({"model": MODEL, "block_ids": [MISSING_BLOCK]}, 404),
        ({"model": MODEL, "tool_ids": ["tool-00000000-0000-4000-8000-000000000000"]}, 404),
        ({"model": MODEL, "enable_sleeptime": "maybe"}, 422),
    ],
)
async def test_create_refuses_bad_input(
    client: httpx.AsyncClient, body: dict[str, Any], status: int
) -> None:
    response = await client.post("/v1/agents/", json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"]
    assert await ok(client.get("/v1/agents/")) == []
    assert await ok(client.get("/v1/blocks/")) == []


async def test_list_filters_and_include(client: httpx.AsyncClient) -> None:
    a = await create_agent(
        client, name="alpha", tags=["x", "y"], memory_blocks=[{"label": "h", "value": "1"}]
    )
    b = await create_agent(client, name="beta", tags=["x"])
    await create_agent(client, name="gamma")
    names = lambda agents: sorted(x["name"] for x in agents)  # noqa: E731
    assert names(await ok(client.get("/v1/agents/", params={"name": "beta"}))) == ["beta"]
    assert names(await ok(client.get("/v1/agents/", params={"query_text": "MM"}))) == ["gamma"]
    assert names(await ok(client.get("/v1/agents/", params={"tags": ["x"]}))) == ["alpha", "beta"]
    both = {"tags": ["x", "y"], "match_all_tags": "true"}
    assert names(await ok(client.get("/v1/agents/", params=both))) == ["alpha"]
    anyof = await ok(client.get("/v1/agents/", params={"tags": ["y", "nope"]}))
    assert names(anyof) == ["alpha"]
    listed = await ok(client.get("/v1/agents/", params={"include": ["agent.tags"]}))
    alpha = next(x for x in listed if x["id"] == a["id"])
    assert alpha["tags"] == ["x", "y"] and alpha["blocks"] == [] and alpha["tools"] == []
    full = await ok(client.get(f"/v1/agents/{a['id']}"))
    assert [x["label"] for x in full["blocks"]] == ["h"] and full["tools"]
    assert (
        await client.get("/v1/agents/", params={"include": ["agent.nonsense"]})
    ).status_code == 422
    assert b["id"] in [x["id"] for x in await page_all(client, "/v1/agents/", limit=1)]


async def test_paging_newest_first_by_default(client: httpx.AsyncClient) -> None:
    ids = [(await create_agent(client, name=f"a{i}"))["id"] for i in range(5)]
    assert [x["id"] for x in await page_all(client, "/v1/agents", limit=2)] == ids[::-1]
    assert [x["id"] for x in await page_all(client, "/v1/agents", limit=2, order="asc")] == ids


async def test_patch_fields_tags_tools_and_blocks(client: httpx.AsyncClient) -> None:
    keep = await create_block(client, label="keep", value="k")
    agent = await create_agent(
        client,
        memory_blocks=[{"label": "drop", "value": "d"}],
        block_ids=[keep["id"]],
        tags=["t1"],
        description="old",
        timezone="UTC",
    )
    new_block = await create_block(client, label="new", value="n")
    patched = await ok(
        client.patch(
            f"/v1/agents/{agent['id']}",
            json={
                "name": "renamed",
                "system": "Be brief.",
                "description": None,
                "tags": ["t2"],
                "tools": ["send_message"],
                "block_ids": [keep["id"], new_block["id"]],
                "model": "openai/gpt-4.1",
                "metadata": {"m": 1},
                "unknown_field": True,
            },
        )
    )
    assert patched["name"] == "renamed" and patched["system"] == "Be brief."
    assert patched["description"] is None and patched["timezone"] == "UTC"
    assert patched["tags"] == ["t2"] and patched["metadata"] == {"m": 1}
    assert [t["name"] for t in patched["tools"]] == ["send_message"]
    assert sorted(b["label"] for b in patched["blocks"]) == ["keep", "new"]
    assert patched["llm_config"]["model"] == "gpt-4.1"
    assert patched["updated_at"] >= agent["updated_at"]
    assert await ok(client.get(f"/v1/agents/{agent['id']}")) == patched


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"model": "nope/x"}, 400),
        ({"tools": ["nope"]}, 400),
        ({"block_ids": [MISSING_BLOCK]}, 404),
        ({"name": 12}, 422),
        ({"tags": [1, {}]}, 422),
        ({"max_tokens": 0}, 422),
    ],
)
async def test_patch_refuses_bad_input_without_partial_write(
    client: httpx.AsyncClient, body: dict[str, Any], status: int
) -> None:
    agent = await create_agent(client, name="stable", tags=["t"])
    response = await client.patch(
        f"/v1/agents/{agent['id']}", json={"description": "changed", **body}
    )
    assert response.status_code == status, response.text
    assert await ok(client.get(f"/v1/agents/{agent['id']}")) == agent


async def test_delete(client: httpx.AsyncClient) -> None:
    block = await create_block(client, label="h", value="")
    agent = await create_agent(client, block_ids=[block["id"]])
    result = await ok(client.delete(f"/v1/agents/{agent['id']}"))
    assert result == {"message": f"Agent id={agent['id']} successfully deleted"}
    assert (await client.get(f"/v1/agents/{agent['id']}")).status_code == 404
    assert (await client.delete(f"/v1/agents/{agent['id']}")).status_code == 404
    assert (await ok(client.get(f"/v1/blocks/{block['id']}")))["id"] == block["id"]


async def test_core_memory_routes(client: httpx.AsyncClient) -> None:
    agent = await create_agent(
        client,
        memory_blocks=[{"label": "human", "value": "Ana"}, {"label": "persona", "value": "kind"}],
    )
    aid = agent["id"]
    blocks = await ok(client.get(f"/v1/agents/{aid}/core-memory/blocks"))
    assert sorted(b["label"] for b in blocks) == ["human", "persona"]
    human = await ok(client.get(f"/v1/agents/{aid}/core-memory/blocks/human"))
    assert human["value"] == "Ana"
    edited = await ok(
        client.patch(f"/v1/agents/{aid}/core-memory/blocks/human", json={"value": "Ana B"})
    )
    assert edited["value"] == "Ana B" and edited["version"] == 2
    memory = await ok(client.get(f"/v1/agents/{aid}/core-memory"))
    assert sorted(b["label"] for b in memory["blocks"]) == ["human", "persona"]
    extra = await create_block(client, label="project", value="p")
    attached = await ok(client.patch(f"/v1/agents/{aid}/core-memory/blocks/attach/{extra['id']}"))
    assert "project" in [b["label"] for b in attached["blocks"]]
    again = await ok(client.patch(f"/v1/agents/{aid}/core-memory/blocks/attach/{extra['id']}"))
    assert [b["label"] for b in again["blocks"]].count("project") == 1
    clash = await create_block(client, label="human", value="other")
    conflict = await client.patch(f"/v1/agents/{aid}/core-memory/blocks/attach/{clash['id']}")
    assert conflict.status_code == 409
    detached = await ok(client.patch(f"/v1/agents/{aid}/core-memory/blocks/detach/{extra['id']}"))
    assert "project" not in [b["label"] for b in detached["blocks"]]
    assert (await ok(client.get(f"/v1/blocks/{extra['id']}")))["value"] == "p"
    rename = await client.patch(f"/v1/blocks/{human['id']}", json={"label": "persona"})
    assert rename.status_code == 409
    # Letta lists an agent's tools newest first (here: in reverse catalogue order), paged.
    tools = await ok(client.get(f"/v1/agents/{aid}/tools"))
    assert sorted(t["name"] for t in tools) == sorted(t["name"] for t in agent["tools"])
    oldest_first = await ok(client.get(f"/v1/agents/{aid}/tools", params={"order": "asc"}))
    assert [t["id"] for t in oldest_first] == [t["id"] for t in reversed(tools)]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/v1/agents/agent-123", 422),
        ("get", f"/v1/agents/{MISSING_AGENT}", 404),
        ("patch", f"/v1/agents/{MISSING_AGENT}", 404),
        ("delete", f"/v1/agents/{MISSING_AGENT}", 404),
        ("get", f"/v1/agents/{MISSING_AGENT}/core-memory/blocks", 404),
        ("get", f"/v1/agents/{MISSING_AGENT}/core-memory/blocks/human", 404),
        ("get", f"/v1/agents/{MISSING_AGENT}/tools", 404),
        ("patch", f"/v1/agents/{MISSING_AGENT}/core-memory/blocks/attach/{MISSING_BLOCK}", 404),
        ("get", "/v1/agents/?limit=5000", 422),
        ("get", "/v1/agents/?order_by=last_run_completion", 422),
        ("get", "/v1/agents/?match_all_tags=perhaps", 422),
    ],
)
async def test_bad_paths_and_queries(
    client: httpx.AsyncClient, method: str, path: str, status: int
) -> None:
    response = await client.request(method, path, json={} if method == "patch" else None)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


async def test_core_memory_errors_on_existing_agent(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, memory_blocks=[{"label": "human", "value": ""}])
    aid = agent["id"]
    missing_label = await client.get(f"/v1/agents/{aid}/core-memory/blocks/nope")
    assert missing_label.status_code == 404 and "nope" in missing_label.json()["detail"]
    assert (
        await client.patch(f"/v1/agents/{aid}/core-memory/blocks/nope", json={"value": "x"})
    ).status_code == 404
    assert (
        await client.patch(f"/v1/agents/{aid}/core-memory/blocks/attach/{MISSING_BLOCK}")
    ).status_code == 404
    assert (
        await client.patch(f"/v1/agents/{aid}/core-memory/blocks/detach/bad-id")
    ).status_code == 422
    wrong_type = await client.patch(
        f"/v1/agents/{aid}/core-memory/blocks/human", json={"value": ["x"]}
    )
    assert wrong_type.status_code == 422


async def test_count(client: httpx.AsyncClient) -> None:
    await create_agent(client, name="one", tags=["t"])
    await create_agent(client, name="two", enable_sleeptime=True)
    assert await ok(client.get("/v1/agents/count")) == 3
    assert await ok(client.get("/v1/agents/count", params={"tags": ["t"]})) == 1
    assert await ok(client.get("/v1/groups/count")) == 1
