"""Streams the provider cut short: ended before their last chunk, without ``[DONE]``,
broken off mid-text or mid-tool-call, or stalled. The turn ends ``llm_api_error`` (a stall:
``llm_timeout``) with nothing of the step stored; the client, which has seen the tokens
relayed so far, is told in the error that they were not kept, and no message in the stream
claims otherwise. A cut before anything was relayed is retried."""

import threading

import httpx
import pytest

from tests.conftest import AppFactory
from tests.fakes.llm_server import Cut, FakeLLMServer, Reply
from tests.faults.conftest import FAST, STEADY
from tests.faults.turns import (
    Events,
    assert_agent_free,
    assert_failed_cleanly,
    assert_stream_failed,
    resumed,
    stored,
    stream_turn,
)
from tests.helpers import create_agent

TEXT = "Hello there friend"
SEARCH = [("conversation_search", {"query": "tea time"})]


@pytest.mark.parametrize(
    ("reply", "error_type", "relayed"),
    [
        pytest.param(
            Reply(text=TEXT, cut=Cut(3)), "stream_incomplete", "assistant_message", id="mid-text"
        ),
        pytest.param(
            Reply(text="Hello", cut=Cut(3)),
            "stream_incomplete",
            "assistant_message",
            id="no-finish-reason",
        ),
        pytest.param(
            Reply(text="Hello", done=False), "stream_incomplete", "assistant_message", id="no-done"
        ),
        pytest.param(
            Reply(tool_calls=SEARCH, cut=Cut(3)),
            "stream_incomplete",
            "tool_call_message",
            id="mid-tool-call",
        ),
        pytest.param(
            Reply(text=TEXT, cut=Cut(3, "drop")),
            "stream_incomplete",
            "assistant_message",
            id="dropped",
        ),
        pytest.param(
            Reply(text=TEXT, cut=Cut(3, "stall")), "llm_timeout", "assistant_message", id="stalled"
        ),
    ],
)
async def test_a_cut_stream_is_a_failure_with_nothing_stored(
    make_client: AppFactory,
    fake_llm: FakeLLMServer,
    release: threading.Event,
    reply: Reply,
    error_type: str,
    relayed: str,
) -> None:
    stalls = reply.cut is not None and reply.cut.how == "stall"
    client = await make_client(**(FAST if stalls else STEADY))
    agent = await create_agent(client)
    if stalls:
        reply.hold = release  # it stalls until the test ends
    fake_llm.state.add(reply)
    events = await stream_turn(client, agent["id"], "hi")
    error = assert_stream_failed(events, "llm_api_error", error_type)
    deltas = [e for _, e in events[1:-3]]
    assert deltas and {d["message_type"] for d in deltas} == {relayed}
    [partial] = {d["id"] for d in deltas}
    assert f"the partial answer streamed as {partial} was not stored" in error["message"]
    run_id = events[0][1]["run_id"]
    run = await assert_failed_cleanly(client, run_id, "llm_api_error", error_type, "hi")
    assert run["error"]["message"] == error["message"]
    assert partial not in {m["id"] for m in await stored(client, run_id)}
    assert await resumed(client, run_id) == events[1:]
    assert len(fake_llm.state.chat_requests) == 1  # what was relayed is never asked again
    await assert_agent_free(client, fake_llm, agent["id"])


async def test_a_cut_before_anything_was_relayed_is_retried(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await create_agent(client)
    fake_llm.state.add(Reply(text="lost", cut=Cut(1)), Reply(text="fine"))
    events: Events = await stream_turn(client, agent["id"], "hi")
    assert events[-3][1]["stop_reason"] == "end_turn"
    text = "".join(e["content"] for _, e in events[1:-3])
    assert text == "fine" and len(fake_llm.state.chat_requests) == 2
