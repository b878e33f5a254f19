"""The agent files Letta publishes import, answer, and keep their tools and tool rules."""

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
