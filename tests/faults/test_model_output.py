"""What a model may say that a turn must survive: calls to tools the agent does not have,
arguments that are not JSON, names no provider would take back, and U+0000 anywhere (text,
reasoning, arguments, names). Bad calls go back to the model as error results and the turn
goes on; U+0000 is stored and read back exactly, on both databases, whichever way the turn
was asked for."""

import json
from typing import Any

import httpx
import pytest

from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.faults.turns import history, json_turn, resumed, stored, stream_turn
from tests.helpers import create_agent, ok

NUL = "a\x00b"


async def turn(
    client: httpx.AsyncClient, agent_id: str, text: str, *, streaming: bool
) -> tuple[str, list[dict[str, Any]]]:
    """Run a turn that ends normally; its stop reason and the messages it stored."""
    if streaming:
        events = await stream_turn(client, agent_id, text)
        run_id = events[0][1]["run_id"]
        assert await resumed(client, run_id) == events[1:]
        stop = events[-3][1]["stop_reason"]
    else:
        answer = await ok(json_turn(client, agent_id, text))
        run_id, stop = answer["messages"][0]["run_id"], answer["stop_reason"]["stop_reason"]
        assert answer["messages"] == (await stored(client, run_id))[1:]
    return stop, (await stored(client, run_id))[1:]


def shown_result(fake_llm: FakeLLMServer) -> str:
    """What the model was shown of its call's result: the last tool message of its second
    request (an agent may start with tool results of its own in its history)."""
    sent = fake_llm.state.chat_requests[1]["messages"]
    return str([m["content"] for m in sent if m["role"] == "tool"][-1])


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(
    ("call", "error"),
    [
        pytest.param(("no_such_tool", {"a": 1}), "is not available to this agent", id="unknown"),
        pytest.param(("conversation_search", '{"query": '), "not valid JSON", id="broken-json"),
        pytest.param(("bad\x00name", {}), "is not available to this agent", id="nul-name"),
    ],
)
async def test_a_call_that_cannot_run_goes_back_to_the_model(
    client: httpx.AsyncClient,
    fake_llm: FakeLLMServer,
    streaming: bool,
    call: tuple[str, dict[str, Any] | str],
    error: str,
) -> None:
    agent = await create_agent(client)
    fake_llm.state.add(Reply(tool_calls=[call]), Reply(text="sorry"))
    stop, messages = await turn(client, agent["id"], "hi", streaming=streaming)
    assert stop == "end_turn"
    made, result, reply = messages
    assert made["tool_call"]["name"] == call[0]
    assert (result["status"], reply["content"]) == ("error", "sorry")
    assert error in result["tool_return"]
    assert error in shown_result(fake_llm)


async def test_a_name_no_provider_takes_back_is_mended_in_the_request(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    fake_llm.state.add(Reply(tool_calls=[("multi_tool_use.parallel", {})]), Reply(text="ok"))
    stop, messages = await turn(client, agent["id"], "hi", streaming=False)
    assert stop == "end_turn" and messages[0]["tool_call"]["name"] == "multi_tool_use.parallel"
    [sent] = [m for m in fake_llm.state.chat_requests[1]["messages"] if m.get("tool_calls")]
    assert sent["tool_calls"][0]["function"]["name"] == "multi_tool_use_parallel"


@pytest.mark.parametrize("streaming", [False, True])
async def test_a_terminal_call_with_broken_arguments_does_not_end_the_turn(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, streaming: bool
) -> None:
    """Else the user would get no reply at all: the model is told and answers again."""
    agent = await create_agent(client, agent_type="memgpt_v2_agent")
    fake_llm.state.add(
        Reply(tool_calls=[("send_message", '{"message": "Hel')]),
        Reply(tool_calls=[("send_message", {"message": "Hello"})]),
    )
    stop, messages = await turn(client, agent["id"], "hi", streaming=streaming)
    assert stop == "end_turn"
    assert [m["message_type"] for m in messages][-1] == "assistant_message"
    assert messages[-1]["content"] == "Hello"
    assert "not valid JSON" in shown_result(fake_llm)


@pytest.mark.parametrize("streaming", [False, True])
async def test_u0000_in_text_and_reasoning_round_trips(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, streaming: bool
) -> None:
    agent = await create_agent(client)
    fake_llm.state.add(Reply(reasoning=f"think {NUL}", text=f"say {NUL}"))
    stop, messages = await turn(client, agent["id"], "hi", streaming=streaming)
    assert stop == "end_turn"
    reasoning, said = messages
    assert (reasoning["reasoning"], said["content"]) == (f"think {NUL}", f"say {NUL}")
    assert (await history(client, agent["id"]))[-2:] == messages
    fake_llm.state.add(Reply(text="next"))
    await turn(client, agent["id"], "again", streaming=False)
    sent = fake_llm.state.chat_requests[1]["messages"]
    earlier = [m for m in sent if m["role"] == "assistant"][-1]
    assert earlier["content"] == f"say {NUL}"  # the model sees its own words again


@pytest.mark.parametrize("streaming", [False, True])
async def test_u0000_in_arguments_round_trips_and_is_searchable(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, streaming: bool
) -> None:
    agent = await create_agent(client)
    fake_llm.state.add(Reply(text=f"the code is {NUL}"))
    await turn(client, agent["id"], "remember it", streaming=False)
    fake_llm.state.add(
        Reply(tool_calls=[("conversation_search", {"query": NUL})]), Reply(text="found")
    )
    stop, messages = await turn(client, agent["id"], "what was it?", streaming=streaming)
    assert stop == "end_turn"
    made, result, _ = messages
    assert made["tool_call"]["arguments"] == '{"query": "a\\u0000b"}'
    assert result["status"] == "success"
    assert json.loads(result["tool_return"])[0]["content"] == f"the code is {NUL}"


async def test_a_memory_edit_with_u0000_is_refused_to_the_model(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    """Memory blocks never hold U+0000 (the API refuses it as well)."""
    agent = await create_agent(client, memory_blocks=[{"label": "human", "value": "Ana"}])
    edit = {"label": "human", "new_string": NUL}
    fake_llm.state.add(Reply(tool_calls=[("memory_insert", edit)]), Reply(text="ok"))
    stop, messages = await turn(client, agent["id"], "hi", streaming=False)
    assert stop == "end_turn"
    assert messages[1]["status"] == "error" and "U+0000" in messages[1]["tool_return"]
    block = await ok(client.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human"))
    assert block["value"] == "Ana"
