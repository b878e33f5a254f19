"""Agents and registered tools: by name or id, attach and detach, renames and deletions
followed by every agent of the organization, and the agent's tool secrets."""

from typing import Any

import httpx

from app.tools.builtin import BUILTIN_TOOLS
from tests.helpers import create_agent, ok, page_all
from tests.tools.test_registry_api import GREET, ROLL, register


def names(agent: dict[str, Any]) -> list[str]:
    return [t["name"] for t in agent["tools"]]


async def test_agents_take_registered_tools_by_name_or_id(client: httpx.AsyncClient) -> None:
    roll = await register(client)
    greet = await register(client, GREET)
    agent = await create_agent(
        client, tools=["roll_dice", "send_message"], tool_ids=[greet["id"], roll["id"]]
    )
    assert names(agent)[-3:] == ["roll_dice", "send_message", "greet"]
    registered = next(t for t in agent["tools"] if t["name"] == "roll_dice")
    assert registered["id"] == roll["id"] and registered["source_code"] == ROLL
    listed = await ok(client.get(f"/v1/agents/{agent['id']}/tools", params={"order": "asc"}))
    assert [t["name"] for t in listed][-2:] == ["roll_dice", "greet"]
    fetched = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert names(fetched) == names(agent)

    updated = await ok(client.patch(f"/v1/agents/{agent['id']}", json={"tool_ids": [greet["id"]]}))
    assert names(updated) == ["greet"]


async def test_unknown_tools_are_named(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/agents/", json={"model": "openai/gpt-4o-mini", "tools": ["nope", "send_message"]}
    )
    assert response.status_code == 400
    assert "unknown tool(s) nope" in response.json()["detail"]
    missing = "tool-00000000-0000-4000-8000-000000000000"
    response = await client.post(
        "/v1/agents/", json={"model": "openai/gpt-4o-mini", "tool_ids": [missing, "junk"]}
    )
    assert response.status_code == 404
    assert f"{missing}, junk" in response.json()["detail"]
    agent = await create_agent(client)
    response = await client.patch(f"/v1/agents/{agent['id']}", json={"tools": ["nope"]})
    assert response.status_code == 400
    response = await client.patch(f"/v1/agents/{agent['id']}/tools/attach/{missing}")
    assert response.status_code == 404


async def test_attach_and_detach(client: httpx.AsyncClient) -> None:
    roll = await register(client, default_requires_approval=True)
    agent = await create_agent(client, include_base_tools=False)
    assert names(agent) == []
    attached = await ok(client.patch(f"/v1/agents/{agent['id']}/tools/attach/{roll['id']}"))
    assert names(attached) == ["roll_dice"]
    assert {"tool_name": "roll_dice", "type": "requires_approval"} in attached["tool_rules"]
    again = await ok(client.patch(f"/v1/agents/{agent['id']}/tools/attach/{roll['id']}"))
    assert names(again) == ["roll_dice"] and again["tool_rules"] == attached["tool_rules"]
    builtin = BUILTIN_TOOLS["send_message"].id
    both = await ok(client.patch(f"/v1/agents/{agent['id']}/tools/attach/{builtin}"))
    assert names(both) == ["roll_dice", "send_message"]

    detached = await ok(client.patch(f"/v1/agents/{agent['id']}/tools/detach/{roll['id']}"))
    assert names(detached) == ["send_message"]
    assert all(r["tool_name"] != "roll_dice" for r in detached["tool_rules"])
    twice = await ok(client.patch(f"/v1/agents/{agent['id']}/tools/detach/{roll['id']}"))
    assert names(twice) == ["send_message"]


async def test_a_rename_follows_into_every_agent_and_rule(client: httpx.AsyncClient) -> None:
    roll = await register(client)
    await register(client, GREET)
    rules = [
        {"tool_name": "roll_dice", "type": "run_first"},
        {"tool_name": "greet", "type": "constrain_child_tools", "children": ["roll_dice"]},
    ]
    first = await create_agent(client, tools=["roll_dice", "greet"], tool_rules=rules)
    second = await create_agent(client, tools=["roll_dice"])
    bystander = await create_agent(client, tools=["greet"])

    renamed = ROLL.replace("def roll_dice(", "def throw_dice(")
    tool = await ok(client.patch(f"/v1/tools/{roll['id']}", json={"source_code": renamed}))
    assert tool["name"] == "throw_dice" and tool["json_schema"]["name"] == "throw_dice"

    first = await ok(client.get(f"/v1/agents/{first['id']}"))
    assert "throw_dice" in names(first) and "roll_dice" not in names(first)
    assert {"tool_name": "throw_dice", "type": "run_first"} in first["tool_rules"]
    child = next(r for r in first["tool_rules"] if r["type"] == "constrain_child_tools")
    assert child["children"] == ["throw_dice"]
    second = await ok(client.get(f"/v1/agents/{second['id']}"))
    assert "throw_dice" in names(second)
    assert names(await ok(client.get(f"/v1/agents/{bystander['id']}"))) == names(bystander)

    taken = await client.patch(f"/v1/tools/{roll['id']}", json={"source_code": GREET})
    assert taken.status_code == 409
    assert "throw_dice" in names(await ok(client.get(f"/v1/agents/{second['id']}")))


async def test_deleting_a_tool_detaches_it_everywhere(client: httpx.AsyncClient) -> None:
    roll = await register(client)
    await register(client, GREET)
    rules = [
        {"tool_name": "roll_dice", "type": "run_first"},
        {"tool_name": "greet", "type": "constrain_child_tools", "children": ["roll_dice"]},
        {"tool_name": "greet", "type": "max_count_per_step", "max_count_limit": 2},
    ]
    agent = await create_agent(client, tools=["roll_dice", "greet"], tool_rules=rules)
    await ok(client.delete(f"/v1/tools/{roll['id']}"))
    agent = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert "roll_dice" not in names(agent) and "greet" in names(agent)
    kinds = {(r["tool_name"], r["type"]) for r in agent["tool_rules"]}
    assert ("roll_dice", "run_first") not in kinds
    assert ("greet", "constrain_child_tools") not in kinds  # its only child is gone
    assert ("greet", "max_count_per_step") in kinds


async def test_secrets(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client, secrets={"API_KEY": "s3cret", "REGION": "eu"})
    shown = {e["key"]: e for e in agent["secrets"]}
    assert set(shown) == {"API_KEY", "REGION"}
    assert shown["API_KEY"]["value"] == "s3cret"
    assert shown["API_KEY"]["agent_id"] == agent["id"]
    assert shown["API_KEY"]["id"].startswith("agent-env-")
    assert agent["tool_exec_environment_variables"] == agent["secrets"]

    updated = await ok(client.patch(f"/v1/agents/{agent['id']}", json={"secrets": {"A": "1"}}))
    assert [(e["key"], e["value"]) for e in updated["secrets"]] == [("A", "1")]
    kept = await ok(client.patch(f"/v1/agents/{agent['id']}", json={"name": "renamed"}))
    assert [(e["key"], e["value"]) for e in kept["secrets"]] == [("A", "1")]
    legacy = await ok(
        client.patch(
            f"/v1/agents/{agent['id']}", json={"tool_exec_environment_variables": {"B": "2"}}
        )
    )
    assert [(e["key"], e["value"]) for e in legacy["secrets"]] == [("B", "2")]
    old_style = await create_agent(client, tool_exec_environment_variables={"C": "3"})
    assert [(e["key"], e["value"]) for e in old_style["secrets"]] == [("C", "3")]
    hidden = await ok(client.get(f"/v1/agents/{agent['id']}", params={"include": ["agent.tools"]}))
    assert hidden["secrets"] == []


async def test_an_agents_tools_page_across_builtins_and_registered(
    client: httpx.AsyncClient,
) -> None:
    roll = await register(client)
    greet = await register(client, GREET)
    agent = await create_agent(client, tools=["greet", "roll_dice"])
    walked = await page_all(client, f"/v1/agents/{agent['id']}/tools", limit=2, order="asc")
    assert [t["name"] for t in walked] == [*agent_builtins(agent), "roll_dice", "greet"]
    newest = await ok(client.get(f"/v1/agents/{agent['id']}/tools", params={"limit": 1}))
    assert [t["id"] for t in newest] == [greet["id"]]
    before = await ok(
        client.get(f"/v1/agents/{agent['id']}/tools", params={"before": greet["id"], "limit": 1})
    )
    assert before == []  # nothing is newer than the newest
    after = await ok(
        client.get(f"/v1/agents/{agent['id']}/tools", params={"after": greet["id"], "limit": 1})
    )
    assert [t["id"] for t in after] == [roll["id"]]


def agent_builtins(agent: dict[str, Any]) -> list[str]:
    return [n for n in BUILTIN_TOOLS if n in names(agent)]


async def test_a_schema_rename_and_a_derived_description_follow_the_source(
    client: httpx.AsyncClient,
) -> None:
    tool = await register(client)
    agent = await create_agent(client, tools=["roll_dice"])
    schema = {**tool["json_schema"], "name": "dice"}
    renamed = await ok(client.patch(f"/v1/tools/{tool['id']}", json={"json_schema": schema}))
    assert renamed["name"] == "dice"
    assert "dice" in names(await ok(client.get(f"/v1/agents/{agent['id']}")))
    resourced = ROLL.replace("Roll a die.", "Roll two dice.")
    again = await ok(client.patch(f"/v1/tools/{tool['id']}", json={"source_code": resourced}))
    assert again["name"] == "roll_dice"
    assert again["description"] == "Roll two dice."
    assert "roll_dice" in names(await ok(client.get(f"/v1/agents/{agent['id']}")))
