"""Every tool rule through the real engine: the tools each step offers the model, what a
refused call gets, and the stop reasons, on both loop kinds where they differ."""

import json
from typing import Any

import httpx
import pytest

from app.engine.solver import output_matches
from app.providers.base import LLMRequest, LLMResponse, ToolCall, Usage
from tests.engine.test_loop import ScriptedModel, call, scripted, text
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok

__all__ = ["scripted"]  # the fixture, used by name

Scripted = tuple[httpx.AsyncClient, ScriptedModel]
V2 = "memgpt_v2_agent"
HUMAN = [{"label": "human", "value": "Ana"}]
INSERT = json.dumps({"label": "human", "new_string": "likes tea"})
SEARCH = json.dumps({"query": "tea"})
SAY = json.dumps({"message": "hello"})


def offered(request: LLMRequest) -> list[str]:
    return sorted(t["name"] for t in request.tools)


def calls(*pairs: tuple[str, str]) -> LLMResponse:
    """One answer with several tool calls."""
    made = [ToolCall(f"call_{i}", name, args) for i, (name, args) in enumerate(pairs)]
    return LLMResponse(text="", tool_calls=made, finish_reason="tool_calls", usage=Usage(5, 3))


async def agent_with(client: httpx.AsyncClient, *rules: dict[str, Any], **body: Any) -> str:
    body.setdefault("memory_blocks", HUMAN)
    body.setdefault("tools", ["send_message"])
    agent = await create_agent(client, tool_rules=list(rules), **body)
    return str(agent["id"])


async def send(client: httpx.AsyncClient, agent_id: str, **body: Any) -> dict[str, Any]:
    body.setdefault("input", "hi")
    return await ok(client.post(f"/v1/agents/{agent_id}/messages", json=body))  # type: ignore[no-any-return]


def returns(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [m for m in response["messages"] if m["message_type"] == "tool_return_message"]


ALL = ["conversation_search", "memory_insert", "memory_replace", "send_message"]


async def test_run_first_offers_only_the_init_tool_first(scripted: Scripted) -> None:
    client, model = scripted
    agent_id = await agent_with(client, {"tool_name": "conversation_search", "type": "run_first"})
    model.script.extend([call("conversation_search", SEARCH), text("done")])
    response = await send(client, agent_id)
    first, second = model.requests
    assert offered(first) == ["conversation_search"]
    assert (first.tool_choice, first.forced_tool) == ("required", "conversation_search")
    assert first.parallel_tool_calls is False  # rules on the order of calls: none in parallel
    assert offered(second) == ALL and second.tool_choice is None
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    # Each turn starts over.
    model.script.append(call("conversation_search", SEARCH))
    model.script.append(text("again"))
    await send(client, agent_id)
    assert offered(model.requests[2]) == ["conversation_search"]


async def test_child_rule_narrows_the_next_step(scripted: Scripted) -> None:
    client, model = scripted
    child = {"tool_name": "memory_insert", "type": "constrain_child_tools"}
    agent_id = await agent_with(client, {**child, "children": ["send_message", "memory_replace"]})
    model.script.extend([call("memory_insert", INSERT), call("send_message", SAY), text("ok")])
    await send(client, agent_id)
    first, second, third = model.requests
    assert offered(first) == ALL and first.tool_choice is None
    assert offered(second) == ["memory_replace", "send_message"]
    assert second.tool_choice == "required" and second.forced_tool is None
    assert offered(third) == ALL  # the child ran: the rule no longer applies


async def test_a_call_the_rules_refuse_does_not_run(scripted: Scripted) -> None:
    client, model = scripted
    child = {
        "tool_name": "memory_insert",
        "type": "constrain_child_tools",
        "children": ["send_message"],
    }
    agent_id = await agent_with(client, child)
    model.script.extend([
        call("memory_insert", INSERT),
        call("memory_insert", INSERT, "call_2"),  # not offered: refused
        call("send_message", SAY, "call_3"),
        text("done"),
    ])  # fmt: skip
    response = await send(client, agent_id)
    refused = returns(response)[1]
    assert refused["status"] == "error" and refused["name"] == "memory_insert"
    assert refused["tool_return"].startswith(
        "[ToolConstraintError] Cannot call memory_insert, valid tools include: ['send_message']."
    )
    assert "Possible rules that were violated" in refused["tool_return"]
    # The refused call did not run (the block holds one insert) nor count: still constrained.
    assert offered(model.requests[2]) == ["send_message"]
    block = await ok(client.get(f"/v1/agents/{agent_id}/core-memory/blocks/human"))
    assert block["value"].count("likes tea") == 1
    assert response["stop_reason"]["stop_reason"] == "end_turn"


async def test_conditional_rule_follows_the_tool_output(scripted: Scripted) -> None:
    client, model = scripted
    rule = {
        "tool_name": "send_message",
        "type": "conditional",
        "child_output_mapping": {"Sent message successfully.": "conversation_search"},
        "default_child": "memory_insert",
    }
    agent_id = await agent_with(client, rule)
    model.script.extend([
        call("send_message", SAY),
        call("conversation_search", SEARCH, "call_2"),
        call("send_message", json.dumps({"message": 5}), "call_3"),  # fails: another output
        call("memory_insert", INSERT, "call_4"),
        text("done"),
    ])  # fmt: skip
    await send(client, agent_id)
    requests = model.requests
    assert offered(requests[1]) == ["conversation_search"]
    assert requests[1].forced_tool == "conversation_search"
    assert offered(requests[3]) == ["memory_insert"]  # no match: the default child
    assert offered(requests[4]) == ALL


async def test_conditional_rule_without_a_match(scripted: Scripted) -> None:
    client, model = scripted
    rule = {
        "tool_name": "send_message",
        "type": "conditional",
        "child_output_mapping": {"nothing like it": "conversation_search"},
    }
    strict = {**rule, "require_output_mapping": True}
    for each in (rule, strict):
        agent_id = await agent_with(client, each)
        model.requests.clear()
        model.script.extend([call("send_message", SAY), text("done")])
        await send(client, agent_id)
        # No default child: every tool; strict leaves none, and then every tool is offered
        # again, as Letta does (a step never goes out without tools because of rules).
        assert offered(model.requests[1]) == ALL


def test_conditional_keys_match_booleans_and_numbers() -> None:
    assert output_matches("True", "true") and output_matches(" 3 ", "3.0")
    assert not output_matches("yes", "true") and not output_matches("3", "4")
    assert output_matches("Sent.", "Sent.") and not output_matches("Sent", "Sent.")


@pytest.mark.parametrize("agent_type", ["letta_v1_agent", V2])
async def test_max_count_per_step_counts_the_turns_calls(
    scripted: Scripted, agent_type: str
) -> None:
    client, model = scripted
    rule = {"tool_name": "conversation_search", "type": "max_count_per_step", "max_count_limit": 2}
    agent_id = await agent_with(client, rule, agent_type=agent_type, include_base_tool_rules=False)
    done = call("send_message", SAY, "call_9")
    model.script.extend([
        call("conversation_search", SEARCH),
        call("conversation_search", SEARCH, "call_2"),
        done if agent_type == V2 else text("done"),
    ])  # fmt: skip
    response = await send(client, agent_id)
    first, second, third = model.requests
    assert "conversation_search" in offered(first) and "conversation_search" in offered(second)
    assert "conversation_search" not in offered(third)
    # A memgpt_v2_agent's call of a tool with such a rule goes on without asking to.
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    model.script.extend(
        [call("conversation_search", SEARCH), text("x")] if agent_type != V2 else [done]
    )
    await send(client, agent_id)
    assert "conversation_search" in offered(model.requests[3])  # a new turn counts anew


async def test_parent_rule_gates_its_children(scripted: Scripted) -> None:
    client, model = scripted
    rule = {
        "tool_name": "conversation_search",
        "type": "parent_last_tool",
        "children": ["memory_insert"],
    }
    agent_id = await agent_with(client, rule)
    model.script.extend([
        call("conversation_search", SEARCH),
        call("memory_insert", INSERT, "call_2"),
        text("done"),
    ])  # fmt: skip
    await send(client, agent_id)
    first, second, third = model.requests
    assert "memory_insert" not in offered(first)
    assert offered(second) == ["memory_insert"] and second.forced_tool == "memory_insert"
    assert "memory_insert" not in offered(third)


async def test_continue_rule_keeps_a_memgpt_agent_going(scripted: Scripted) -> None:
    client, model = scripted
    rule = {"tool_name": "conversation_search", "type": "continue_loop"}
    agent_id = await agent_with(client, rule, agent_type=V2, include_base_tool_rules=False)
    model.script.extend([call("conversation_search", SEARCH), call("memory_insert", INSERT, "c2")])
    response = await send(client, agent_id)
    assert len(model.requests) == 2  # no heartbeat asked for, the rule went on
    assert response["stop_reason"]["stop_reason"] == "end_turn"  # memory_insert has no rule


@pytest.mark.parametrize("agent_type", ["letta_v1_agent", V2])
async def test_terminal_rule_ends_the_turn(scripted: Scripted, agent_type: str) -> None:
    client, model = scripted
    rule = {"tool_name": "memory_insert", "type": "exit_loop"}
    agent_id = await agent_with(client, rule, agent_type=agent_type, include_base_tool_rules=False)
    heartbeat = json.dumps({"label": "human", "new_string": "x", "request_heartbeat": True})
    model.script.append(call("memory_insert", heartbeat))
    response = await send(client, agent_id)
    assert response["stop_reason"]["stop_reason"] == "tool_rule"
    assert len(model.requests) == 1


async def test_required_before_exit_nudges_a_model_that_stops(scripted: Scripted) -> None:
    client, model = scripted
    rule = {"tool_name": "conversation_search", "type": "required_before_exit"}
    terminal = {"tool_name": "send_message", "type": "exit_loop"}
    agent_id = await agent_with(client, rule, terminal)
    model.script.extend([
        text("bye"),  # stops without the required tool: the turn goes on
        call("send_message", SAY),  # terminal, but the required tool is still missing
        call("conversation_search", SEARCH, "call_2"),
        call("send_message", SAY, "call_3"),
    ])  # fmt: skip
    response = await send(client, agent_id)
    assert len(model.requests) == 4
    assert response["stop_reason"]["stop_reason"] == "tool_rule"
    nudge = model.requests[1].messages[-1]
    assert nudge["role"] == "user"
    reason = json.loads(nudge["content"])
    assert reason["type"] == "heartbeat" and "conversation_search" in reason["reason"]
    assert "ToolRuleViolated" in json.loads(model.requests[2].messages[-1]["content"])["reason"]
    # The heartbeats are history, not part of the answer.
    assert "user_message" not in {m["message_type"] for m in response["messages"]}
    history = await ok(client.get(f"/v1/agents/{agent_id}/messages", params={"limit": 50}))
    beats = [
        m for m in history if m["message_type"] == "user_message" and "heartbeat" in m["content"]
    ]
    assert len(beats) == 2


async def test_required_before_exit_on_a_memgpt_agent(scripted: Scripted) -> None:
    client, model = scripted
    rule = {"tool_name": "conversation_search", "type": "required_before_exit"}
    agent_id = await agent_with(client, rule, agent_type=V2)
    model.script.extend([
        call("send_message", SAY),  # terminal (a base rule), no heartbeat: would end the turn
        call("conversation_search", SEARCH, "call_2"),  # continue rule (base)
        call("send_message", SAY, "call_3"),
    ])  # fmt: skip
    response = await send(client, agent_id)
    assert len(model.requests) == 3
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    assert model.requests[1].messages[-1]["role"] == "user"


async def test_required_before_exit_stops_at_the_last_step(scripted: Scripted) -> None:
    client, model = scripted
    required = {"tool_name": "conversation_search", "type": "required_before_exit"}
    terminal = {"tool_name": "send_message", "type": "exit_loop"}
    agent_id = await agent_with(client, required, terminal)
    model.script.append(text("bye"))
    response = await send(client, agent_id, max_steps=1)
    assert response["stop_reason"]["stop_reason"] == "end_turn"
    model.script.append(call("send_message", SAY))
    response = await send(client, agent_id, max_steps=1)
    assert response["stop_reason"]["stop_reason"] == "max_steps"
    history = await ok(client.get(f"/v1/agents/{agent_id}/messages", params={"limit": 50}))
    assert not [m for m in history if "heartbeat" in str(m.get("content"))]


async def test_requires_approval_pauses_only_an_allowed_call(scripted: Scripted) -> None:
    client, model = scripted
    approval = {"tool_name": "memory_insert", "type": "requires_approval"}
    init = {"tool_name": "conversation_search", "type": "run_first"}
    agent_id = await agent_with(client, approval, init)
    assert model.requests == []
    # Refused at the first step (only the init tool is allowed): no pause, an error result.
    model.script.extend([
        call("memory_insert", INSERT),
        call("conversation_search", SEARCH, "c2"),
        call("memory_insert", INSERT, "c3"),
    ])  # fmt: skip
    response = await send(client, agent_id)
    assert returns(response)[0]["status"] == "error"
    assert response["stop_reason"]["stop_reason"] == "requires_approval"
    request = next(
        m for m in response["messages"] if m["message_type"] == "approval_request_message"
    )
    assert request["tool_call"]["tool_call_id"] == "c3"
    assert model.requests[0].parallel_tool_calls is False


async def test_approval_rules_alone_leave_parallel_calls_alone(scripted: Scripted) -> None:
    client, model = scripted
    agent_id = await agent_with(
        client,
        {"tool_name": "memory_insert", "type": "requires_approval"},
        model_settings={"parallel_tool_calls": True},
    )
    model.script.append(text("hi"))
    await send(client, agent_id)
    assert model.requests[0].parallel_tool_calls is True


async def test_client_tools_are_always_offered(scripted: Scripted) -> None:
    client, model = scripted
    agent_id = await agent_with(client, {"tool_name": "conversation_search", "type": "run_first"})
    weather = {"name": "get_weather", "description": "Weather.", "parameters": {"type": "object"}}
    model.script.append(call("get_weather", "{}"))
    response = await send(client, agent_id, client_tools=[weather])
    assert offered(model.requests[0]) == ["conversation_search", "get_weather"]
    assert model.requests[0].forced_tool is None  # two tools offered: any of them
    assert response["stop_reason"]["stop_reason"] == "requires_approval"


async def test_parallel_calls_are_checked_against_the_step(scripted: Scripted) -> None:
    client, model = scripted
    agent_id = await agent_with(client, {"tool_name": "conversation_search", "type": "run_first"})
    model.script.extend(
        [calls(("conversation_search", SEARCH), ("memory_insert", INSERT)), text("ok")]
    )
    response = await send(client, agent_id)
    first, second = returns(response)
    assert first["status"] == "success" and second["status"] == "error"
    assert "[ToolConstraintError]" in second["tool_return"]


async def test_rules_are_stated_in_the_system_prompt(scripted: Scripted) -> None:
    client, model = scripted
    rules = [
        {"tool_name": "conversation_search", "type": "run_first"},
        {
            "tool_name": "memory_insert",
            "type": "constrain_child_tools",
            "children": ["send_message"],
        },
        {"tool_name": "send_message", "type": "exit_loop"},
        {"tool_name": "memory_replace", "type": "max_count_per_step", "max_count_limit": 3},
        {"tool_name": "memory_replace", "type": "requires_approval"},
    ]
    agent_id = await agent_with(client, *rules)
    model.script.append(call("conversation_search", SEARCH))
    model.script.append(text("hi"))
    await send(client, agent_id)
    system = model.requests[0].messages[0]["content"]
    section = system[system.index("<tool_usage_rules>") : system.index("</tool_usage_rules>")]
    assert system.index("</memory_blocks>") < system.index("<tool_usage_rules>")
    assert system.index("</tool_usage_rules>") < system.index("<memory_metadata>")
    assert section.count("<tool_rule>") == 4  # approvals are not the model's business
    assert "conversation_search" in section and "at most 3" in section


async def test_forced_tool_and_parallel_off_on_the_wire(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent_id = await agent_with(client, {"tool_name": "conversation_search", "type": "run_first"})
    fake_llm.state.add(
        Reply(tool_calls=[("conversation_search", {"query": "tea"})]), Reply(text="ok")
    )
    await send(client, agent_id)
    first, second = fake_llm.state.chat_requests[-2:]
    assert [t["function"]["name"] for t in first["tools"]] == ["conversation_search"]
    assert first["tool_choice"] == {"type": "function", "function": {"name": "conversation_search"}}
    assert first["parallel_tool_calls"] is False
    assert "tool_choice" not in second and len(second["tools"]) == 4


@pytest.mark.parametrize(
    ("rule", "problem"),
    [
        ({"type": "constrain_child_tools"}, "children"),
        ({"type": "constrain_child_tools", "children": []}, "children"),
        ({"type": "parent_last_tool", "children": "send_message"}, "children"),
        ({"type": "conditional"}, "child_output_mapping"),
        ({"type": "conditional", "child_output_mapping": {}}, "child_output_mapping"),
        ({"type": "conditional", "child_output_mapping": {"a": 1}}, "child_output_mapping"),
        (
            {"type": "conditional", "child_output_mapping": {"a": "b"}, "default_child": 3},
            "default_child",
        ),
        (
            {
                "type": "conditional",
                "child_output_mapping": {"a": "b"},
                "require_output_mapping": "yes",
            },
            "require_output_mapping",
        ),
        ({"type": "max_count_per_step"}, "max_count_limit"),
        ({"type": "max_count_per_step", "max_count_limit": 0}, "max_count_limit"),
        ({"type": "max_count_per_step", "max_count_limit": "2"}, "max_count_limit"),
        ({"type": "exit_loop", "prompt_template": 5}, "prompt_template"),
        ({"type": "run_first", "args": [1]}, "args"),
        (
            {
                "type": "constrain_child_tools",
                "children": ["a"],
                "child_arg_nodes": [{"name": "b"}],
            },
            "child_arg_nodes",
        ),
        (
            {"type": "constrain_child_tools", "children": ["a"], "child_arg_nodes": {"name": "a"}},
            "child_arg_nodes",
        ),
        (
            {
                "type": "constrain_child_tools",
                "children": ["a"],
                "child_arg_nodes": [{"name": "a", "args": 3}],
            },
            "args",
        ),
    ],
)
async def test_rule_fields_are_checked(
    client: httpx.AsyncClient, rule: dict[str, Any], problem: str
) -> None:
    body = {"model": "openai/gpt-4o-mini", "tool_rules": [{"tool_name": "send_message", **rule}]}
    created = await client.post("/v1/agents/", json=body)
    assert created.status_code == 422, created.text
    assert problem in created.text
    agent = await create_agent(client)
    patched = await client.patch(
        f"/v1/agents/{agent['id']}", json={"tool_rules": body["tool_rules"]}
    )
    assert patched.status_code == 422 and problem in patched.text


async def test_valid_rules_are_shown_as_sent(client: httpx.AsyncClient) -> None:
    rules = [
        {"tool_name": "a", "type": "constrain_child_tools", "children": ["b"]},
        {
            "tool_name": "a",
            "type": "conditional",
            "child_output_mapping": {"x": "b"},
            "default_child": None,
        },
        {
            "tool_name": "b",
            "type": "max_count_per_step",
            "max_count_limit": 1,
            "prompt_template": None,
        },
        {"tool_name": "b", "type": "parent_last_tool", "children": ["a"]},
        {"tool_name": "a", "type": "run_first", "args": {"q": 1}},
    ]
    agent = await create_agent(client, tool_rules=rules)
    assert agent["tool_rules"] == rules


def arguments(response: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        json.loads(m["tool_call"]["arguments"])
        for m in response["messages"]
        if m["message_type"] == "tool_call_message"
    ]


async def test_rules_fix_arguments(scripted: Scripted) -> None:
    client, model = scripted
    init = {"tool_name": "conversation_search", "type": "run_first", "args": {"query": "fixed"}}
    child = {
        "tool_name": "conversation_search",
        "type": "constrain_child_tools",
        "children": ["memory_insert"],
        "child_arg_nodes": [{"name": "memory_insert", "args": {"new_string": "from the rule"}}],
    }
    agent_id = await agent_with(client, init, child)
    model.script.extend([
        call("conversation_search", json.dumps({"query": "tea", "limit": 2})),
        call("memory_insert", INSERT, "call_2"),
        text("done"),
    ])  # fmt: skip
    response = await send(client, agent_id)
    first, second = arguments(response)
    assert first == {"query": "fixed", "limit": 2}  # the model's other arguments stay
    assert second == {"label": "human", "new_string": "from the rule"}
    block = await ok(client.get(f"/v1/agents/{agent_id}/core-memory/blocks/human"))
    assert "from the rule" in block["value"] and "likes tea" not in block["value"]
    # The model is asked again with the arguments the call ran with.
    assert "fixed" in model.requests[1].messages[-2]["tool_calls"][0]["function"]["arguments"]


async def test_rule_arguments_that_do_not_fit_stop_the_turn(scripted: Scripted) -> None:
    client, model = scripted
    init = {"tool_name": "conversation_search", "type": "run_first", "args": {"nope": 1}}
    agent_id = await agent_with(client, init)
    model.script.append(call("conversation_search", SEARCH))
    response = await send(client, agent_id)
    assert response["stop_reason"]["stop_reason"] == "invalid_tool_call"
    (result,) = returns(response)
    assert result["status"] == "error" and "unknown argument 'nope'" in result["tool_return"]
    run = await ok(client.get(f"/v1/runs/{result['run_id']}"))
    assert run["status"] == "failed" and run["error"]["type"] == "invalid_tool_call"
    model.script.append(text("fine"))
    assert (await send(client, agent_id))["stop_reason"]["stop_reason"] == "end_turn"


@pytest.mark.parametrize("approve", [True, False])
async def test_an_approved_call_counts_in_the_resumed_turn(
    scripted: Scripted, approve: bool
) -> None:
    client, model = scripted
    approval = {"tool_name": "memory_insert", "type": "requires_approval"}
    child = {
        "tool_name": "memory_insert",
        "type": "constrain_child_tools",
        "children": ["send_message"],
    }
    agent_id = await agent_with(client, approval, child)
    model.script.append(call("memory_insert", INSERT, "c1"))
    paused = await send(client, agent_id)
    assert paused["stop_reason"]["stop_reason"] == "requires_approval"
    model.script.extend([call("send_message", SAY, "c2"), text("done")])
    decision = {"type": "approval", "tool_call_id": "c1", "approve": approve, "reason": "no"}
    resumed = await send(
        client, agent_id, input=None, messages=[{"type": "approval", "approvals": [decision]}]
    )
    assert resumed["stop_reason"]["stop_reason"] == "end_turn"
    # Approved, the call ran when the turn resumed: its child rule narrows the first step.
    # Denied, it did not run: nothing narrows it.
    assert offered(model.requests[1]) == (["send_message"] if approve else ALL)
    assert offered(model.requests[2]) == ALL
