"""The turn flows as ``letta-client`` 1.7.0 and the TypeScript SDK see them against a live
server, the fake model scripted by each test: send_message per agent type, token streams read
by the SDKs' own parsers, provider failures and unsupported routes raised as errors, and the
messages kept as sent. (The project's SDK, 1.12.x, sees the same in-process elsewhere.)"""

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import MODEL
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.sdk import harness

HELLO = 'Hello "Ana" \\ welcome\nback, café 😀'
SCRIPTS = {"python-1.7.0": harness.PY_DIR / "flows.py", "typescript": harness.TS_DIR / "flows.mjs"}
Flow = Callable[[str], dict[str, Any]]


def reply(message: str) -> Reply:
    return Reply(tool_calls=[("send_message", {"message": message})])


def kinds(messages: list[dict[str, Any]]) -> list[str]:
    return [m["message_type"] for m in messages]


@pytest.fixture(params=sorted(SCRIPTS))
def flow(request: pytest.FixtureRequest, server: str) -> Flow:
    """Runs one flow of the SDK's script against the live server; what the SDK saw."""
    name: str = request.param
    interpreter: str | Path = request.getfixturevalue(
        "python_sdk_1_7_0" if name == "python-1.7.0" else "node"
    )

    def run(which: str) -> dict[str, Any]:
        body = {"base_url": server, "model": MODEL, "flow": which}
        return harness.run_script(interpreter, SCRIPTS[name], body)

    return run


def test_send_message_per_agent_type(flow: Flow, fake_llm: FakeLLMServer) -> None:
    fake_llm.state.add(reply("from v2"), reply(HELLO))
    seen = flow("send")
    v2 = seen["v2"]
    assert kinds(v2["messages"]) == ["assistant_message"], v2
    assert v2["messages"][0]["content"] == "from v2"
    assert v2["stop_reason"]["stop_reason"] == "end_turn"
    v1 = seen["v1"]
    assert v1["agent_type"] == "letta_v1_agent"
    assert kinds(v1["messages"]) == ["tool_call_message", "tool_return_message"], v1
    call, result = v1["messages"]
    assert call["tool_call"]["name"] == "send_message"
    assert json.loads(call["tool_call"]["arguments"]) == {"message": HELLO}
    assert result["tool_call_id"] == call["tool_call"]["tool_call_id"]
    assert result["tool_return"] == "Sent message successfully."
    assert v1["stop_reason"]["stop_reason"] == "tool_rule"
    history = seen["v1_history"]
    assert kinds(history)[0] == "system_message"
    assert kinds(history)[-2:] == ["user_message", "assistant_message"], kinds(history)
    assert history[-2]["content"] == "hi"
    assert (history[-1]["id"], history[-1]["content"]) == (call["id"], HELLO)
    assert len(fake_llm.state.chat_requests) == 2  # one model call per turn


def test_token_streams(flow: Flow, fake_llm: FakeLLMServer) -> None:
    fake_llm.state.add(reply(HELLO), reply(HELLO))
    seen = flow("stream")
    closing = ["stop_reason", "usage_statistics"]
    v2 = seen["v2"]
    texts = [c for c in v2 if c["message_type"] == "assistant_message"]
    assert kinds(v2) == ["assistant_message"] * len(texts) + closing, kinds(v2)
    assert len(texts) > 3 and len({(c["id"], c["otid"]) for c in texts}) == 1, texts
    assert "".join(c["content"] for c in texts) == HELLO
    assert v2[-2]["stop_reason"] == "end_turn"
    assert (v2[-1]["step_count"], v2[-1]["total_tokens"]) == (1, 18)
    v1 = seen["v1"]
    calls = [c for c in v1 if c["message_type"] == "tool_call_message"]
    assert kinds(v1) == ["tool_call_message"] * len(calls) + ["tool_return_message", *closing]
    assert len(calls) > 3 and len({(c["id"], c["otid"]) for c in calls}) == 1, calls
    head, rest = calls[0]["tool_call"], [c["tool_call"] for c in calls[1:]]
    assert head["name"] == "send_message" and head["tool_call_id"], head
    assert all(set(delta) == {"arguments"} for delta in rest), rest
    arguments = (head.get("arguments") or "") + "".join(d["arguments"] for d in rest)
    assert json.loads(arguments) == {"message": HELLO}
    assert v1[-3]["tool_call_id"] == head["tool_call_id"]
    assert v1[-2]["stop_reason"] == "tool_rule"
    assert (v1[-1]["step_count"], v1[-1]["total_tokens"]) == (1, 18)
    assert len(fake_llm.state.chat_requests) == 2


def test_a_provider_failure_raises(flow: Flow, fake_llm: FakeLLMServer, server: str) -> None:
    bad_key = {"error": {"message": "Incorrect API key provided"}}
    fake_llm.state.add(Reply(status=401, error_body=bad_key), Reply(status=500))
    seen = flow("failure")
    errors = seen["errors"]
    assert [(e["raised"], e["status"]) for e in errors] == [
        ("AuthenticationError", 401),
        ("InternalServerError", 502),
    ], errors
    assert all(e["api_error"] for e in errors)  # the SDK's APIError, whatever the status
    runs = httpx.get(f"{server}/v1/runs/", params={"agent_id": seen["agent_id"], "order": "asc"})
    assert [r["id"] for r in runs.json()] == [e["body"]["run_id"] for e in errors]
    for error, run, kind in zip(
        errors, runs.json(), ["llm_authentication", "llm_error"], strict=True
    ):
        assert error["body"]["error"]["type"] == run["error"]["type"] == kind
        assert run["id"] in error["body"]["detail"]
        assert (run["status"], run["stop_reason"]) == ("failed", "llm_api_error")
    assert "Incorrect API key provided" in errors[0]["body"]["detail"]
    assert len(fake_llm.state.chat_requests) == 2  # the server did not retry either


def test_an_unsupported_route_raises_501_once(flow: Flow, fake_llm: FakeLLMServer) -> None:
    seen = flow("unsupported")
    route = "GET /v1/folders/"
    assert (seen["raised"], seen["api_error"], seen["status"]) == ("InternalServerError", True, 501)
    assert seen["body"] == {
        "detail": {
            "code": "NOT_SUPPORTED",
            "message": f"{route} is a Letta API route that this server does not support.",
            "route": route,
        }
    }
    assert seen["requests"] == [route]  # x-should-retry: false kept the SDK from retrying
    assert fake_llm.state.chat_requests == []


def test_messages_as_sent(flow: Flow, fake_llm: FakeLLMServer) -> None:
    fake_llm.state.add(Reply(text="Hi!"))
    seen = flow("history")
    messages = seen["messages"]
    assert kinds(messages) == ["system_message", "user_message", "assistant_message"]
    assert seen["message_ids"] == [m["id"] for m in messages]
    sent = messages[1]
    assert (sent["otid"], sent["content"]) == ("sdk-otid-1", "remember me")
    assert messages[2]["content"] == "Hi!" and messages[2]["otid"] != "sdk-otid-1"
