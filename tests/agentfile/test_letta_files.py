"""The agent files Letta publishes import, answer, and keep their tools and tool rules."""

import asyncio
import copy
from typing import Any

import httpx
import pytest

from tests.agentfile.conftest import FIXTURES, LETTA_FILES, letta_file, upload
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import ok

CUSTOM_TOOLS = {
    "memgpt_agent.af": set(),
    "customer_service.af": {"cancel_order", "check_order_status", "escalate", "terminate_chat"},
    "outreach_workflow_agent.af": {
        "evaluate_candidate",
        "reject",
        "retrieve_candidate",
        "send_email",
    },
}


@pytest.mark.parametrize("name", LETTA_FILES)
async def test_imports_and_answers(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, name: str
) -> None:
    source = letta_file(name)
    imported = await ok(upload(client, (FIXTURES / name).read_bytes()))
    [agent_id] = imported["agent_ids"]
    assert imported["skipped_tools"] == []
    agent = await ok(client.get(f"/v1/agents/{agent_id}"))
    original = source["agents"][0]
    assert agent["name"] == original["name"] + "_copy"  # Letta's default suffix
    assert agent["system"] == original["system"]
    assert agent["model"] == "openai/gpt-4o-mini"
    assert agent["llm_config"]["context_window"] == 32000
    assert agent["tool_rules"] == original["tool_rules"]
    file_tools = {t["id"]: t["name"] for t in source["tools"]}
    assert [t["name"] for t in agent["tools"]] == [file_tools[i] for i in original["tool_ids"]]
    blocks = {b["id"]: b for b in source["blocks"]}
    assert sorted((b["label"], b["value"]) for b in agent["blocks"]) == sorted(
        (blocks[i]["label"], blocks[i]["value"]) for i in original["block_ids"]
    )
    registered = {t["name"]: t for t in await ok(client.get("/v1/tools/", params={"limit": 50}))}
    custom = {n for n, t in registered.items() if t["tool_type"] == "custom"}
    assert custom == CUSTOM_TOOLS[name]
    assert all(registered[n]["source_code"] for n in custom)
    listed = await ok(client.get(f"/v1/agents/{agent_id}/messages"))
    assert [m["message_type"] for m in listed] == ["system_message"]
    assert len(agent["message_ids"]) == 1

    if name == "outreach_workflow_agent.af":  # run_first: the first step offers only that tool
        fake_llm.state.add(Reply(text="Looking."))
    answer = await ok(client.post(f"/v1/agents/{agent_id}/messages", json={"input": "hello"}))
    assert answer["stop_reason"]["stop_reason"] == "end_turn"
    assert answer["messages"][-1]["message_type"] == "assistant_message"
    offered = [t["function"]["name"] for t in fake_llm.state.chat_requests[0].get("tools", [])]
    if name == "outreach_workflow_agent.af":
        assert offered == ["retrieve_candidate"]
    else:
        assert offered == [t["name"] for t in agent["tools"]] != []


async def test_custom_tools_run_in_the_sandbox(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    imported = await ok(upload(client, (FIXTURES / "customer_service.af").read_bytes()))
    [agent_id] = imported["agent_ids"]
    fake_llm.state.add(
        Reply(tool_calls=[("check_order_status", {"order_number": 42})]),
        Reply(text="Your order is on its way."),
    )
    answer = await ok(
        client.post(f"/v1/agents/{agent_id}/messages", json={"input": "Where is order 42?"})
    )
    [result] = [m for m in answer["messages"] if m["message_type"] == "tool_return_message"]
    assert result["status"] == "success"
    assert result["tool_return"] == "Order 42 is currently processing."
    assert answer["messages"][-1]["content"] == "Your order is on its way."


def _letta_sleeptime_file() -> dict[str, Any]:
    """``memgpt_agent.af`` as Letta exports a sleeptime-enabled agent: the primary with
    Letta's sleeptime-primary tools, its ``<name>-sleeptime`` agent sharing its blocks plus
    ``memory_persona``, their group, and ``enable_sleeptime: false`` everywhere (Letta's
    export writes false)."""
    data = letta_file("memgpt_agent.af")
    primary = data["agents"][0]
    base = data["tools"][0]

    def tool(file_id: str, name: str, tool_type: str) -> dict[str, Any]:
        return {**base, "id": file_id, "name": name, "tool_type": tool_type, "tags": [tool_type]}

    data["tools"] += [
        tool("tool-3", "send_message", "letta_core"),
        tool("tool-4", "archival_memory_search", "letta_core"),
        tool("tool-5", "memory_rethink", "letta_sleeptime_core"),
        tool("tool-6", "memory_finish_edits", "letta_sleeptime_core"),
    ]
    data["blocks"].append({**data["blocks"][0], "id": "block-2", "label": "memory_persona"})
    primary.update(
        tool_ids=["tool-3", "tool-0", "tool-4"],
        group_ids=["group-0"],
        tool_rules=[
            {"tool_name": "send_message", "type": "exit_loop"},
            {"tool_name": "conversation_search", "type": "continue_loop"},
            {"tool_name": "archival_memory_search", "type": "continue_loop"},
        ],
    )
    helper = copy.deepcopy(primary)
    system = {**primary["messages"][0], "id": "message-1", "agent_id": "agent-1"}
    helper.update(
        id="agent-1",
        name="memgpt_agent-sleeptime",
        agent_type="sleeptime_agent",
        tool_ids=["tool-1", "tool-2", "tool-5", "tool-6"],
        block_ids=["block-0", "block-1", "block-2"],
        tool_rules=[{"tool_name": "memory_finish_edits", "type": "exit_loop"}],
        in_context_message_ids=["message-1"],
        messages=[system],
        group_ids=[],
    )
    data["agents"].append(helper)
    data["groups"] = [
        {
            "id": "group-0",
            "agent_ids": ["agent-1"],
            "description": "",
            "manager_config": {
                "manager_type": "sleeptime",
                "manager_agent_id": "agent-0",
                "sleeptime_agent_frequency": 5,
            },
            "project_id": None,
            "shared_block_ids": [],
            "hidden": None,
        }
    ]
    return data


async def test_a_letta_sleeptime_file_imports_and_its_sleeptime_agent_runs(
    make_app: Any, fake_llm: FakeLLMServer
) -> None:
    app, client = await make_app()
    imported = await ok(upload(client, _letta_sleeptime_file()))
    assert imported["skipped_tools"] == []
    primary_id, helper_id = imported["agent_ids"]
    primary = await ok(client.get(f"/v1/agents/{primary_id}"))
    assert primary["enable_sleeptime"] is True
    assert primary["managed_group"]["agent_ids"] == [helper_id]
    assert [t["name"] for t in primary["tools"]] == [
        "send_message",
        "conversation_search",
        "archival_memory_search",
    ]
    assert [r["tool_name"] for r in primary["tool_rules"]] == [
        "send_message",
        "conversation_search",
        "archival_memory_search",
    ]
    helper = await ok(client.get(f"/v1/agents/{helper_id}"))
    assert helper["name"] == "memgpt_agent-sleeptime_copy"
    shared = {b["id"] for b in primary["blocks"]}
    assert shared < {b["id"] for b in helper["blocks"]}
    fake_llm.state.add(
        Reply(tool_calls=[("send_message", {"message": "Hi Chad!"})]),
        Reply(tool_calls=[("memory_rethink", {"label": "human", "new_memory": "Chad, sails"})]),
        Reply(tool_calls=[("memory_finish_edits", {})]),
    )
    answer = await ok(client.post(f"/v1/agents/{primary_id}/messages", json={"input": "Hi!"}))
    assert answer["stop_reason"]["stop_reason"] == "tool_rule"
    [run_id] = answer["usage"]["run_ids"]
    await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)
    assert (await ok(client.get(f"/v1/runs/{run_id}")))["status"] == "completed"
    human = await ok(client.get(f"/v1/agents/{primary_id}/core-memory/blocks/human"))
    assert human["value"] == "Chad, sails"
