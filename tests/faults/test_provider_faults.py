"""Faults of the provider's HTTP exchange: rate limits (with ``Retry-After``), server errors,
hangs, bodies that are not JSON. Each ends its turn with the right stop reason and run error,
as an HTTP error on the JSON path and in the stream on a stream, with nothing of the failed
step stored and the agent free for the next turn. A fault that a retry cures is invisible."""

import threading
from collections.abc import Callable

import httpx
import pytest

from tests.conftest import AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.faults.conftest import FAST, RETRIES, STEADY
from tests.faults.turns import (
    assert_agent_free,
    assert_failed_cleanly,
    assert_stream_failed,
    json_turn,
    last_run,
    resumed,
    stream_turn,
)
from tests.helpers import create_agent, ok
from tests.messages.test_faults_and_admission import assert_turn_failed

Script = Callable[[threading.Event, bool], list[Reply]]


def repeated(reply: Reply) -> Script:
    """The same fault on the first call and on each retry."""
    return lambda _release, _streaming: [reply] * (RETRIES + 1)


def hang(release: threading.Event, _streaming: bool) -> list[Reply]:
    return [Reply(text="too late", hold=release)]


def garbage(_release: threading.Event, streaming: bool) -> list[Reply]:
    return [Reply(raw_body="data: {not json\n\n" if streaming else "{not json")]


LIMITED = Reply(status=429, headers={"retry-after": "0"}, error_body={"error": {"message": "slow"}})
FAULTS = [
    pytest.param(repeated(LIMITED), 429, "llm_api_error", "llm_rate_limit", {}, id="429"),
    pytest.param(repeated(Reply(status=500)), 502, "llm_api_error", "llm_error", {}, id="500"),
    pytest.param(repeated(Reply(status=503)), 502, "llm_api_error", "llm_error", {}, id="503"),
    pytest.param(
        hang, 504, "llm_api_error", "llm_timeout", FAST | {"provider_max_retries": 0}, id="hang"
    ),
    pytest.param(garbage, 502, "invalid_llm_response", "llm_empty_response", {}, id="garbage-json"),
]


async def failed_json_turn(
    client: httpx.AsyncClient, agent_id: str, status: int, error_type: str
) -> str:
    """The JSON path answers the HTTP error the SDKs raise, naming the run."""
    response = await json_turn(client, agent_id, "hi")
    assert response.status_code == status, response.text
    run = await last_run(client, agent_id)
    assert_turn_failed(response, run["id"], error_type)
    return str(run["id"])


async def failed_stream(
    client: httpx.AsyncClient, agent_id: str, stop_reason: str, error_type: str
) -> str:
    """A stream says it in the stream (status 200), after nothing else, as kept."""
    events = await stream_turn(client, agent_id, "hi")
    assert events[0][1]["message_type"] == "ping" and len(events) == 4
    assert_stream_failed(events, stop_reason, error_type)
    run_id = str(events[0][1]["run_id"])
    assert await resumed(client, run_id) == events[1:]
    return run_id


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize(("script", "status", "stop_reason", "error_type", "overrides"), FAULTS)
async def test_a_provider_fault_ends_the_turn(
    make_client: AppFactory,
    fake_llm: FakeLLMServer,
    release: threading.Event,
    streaming: bool,
    script: Script,
    status: int,
    stop_reason: str,
    error_type: str,
    overrides: dict[str, float],
) -> None:
    client = await make_client(**(STEADY | overrides))
    agent = await create_agent(client)
    fake_llm.state.add(*script(release, streaming))
    if streaming:
        run_id = await failed_stream(client, agent["id"], stop_reason, error_type)
    else:
        run_id = await failed_json_turn(client, agent["id"], status, error_type)
    await assert_failed_cleanly(client, run_id, stop_reason, error_type, "hi")
    await assert_agent_free(client, fake_llm, agent["id"])


@pytest.mark.parametrize("streaming", [False, True])
@pytest.mark.parametrize("status", [429, 503])
async def test_a_fault_a_retry_cures_is_invisible(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer, status: int, streaming: bool
) -> None:
    agent = await create_agent(client)
    fake_llm.state.add(Reply(status=status), Reply(text="fine"))
    if streaming:
        events = await stream_turn(client, agent["id"], "hi")
        assert events[-3][1]["stop_reason"] == "end_turn"
    else:
        answer = await ok(json_turn(client, agent["id"], "hi"))
        assert answer["messages"][-1]["content"] == "fine"
    assert len(fake_llm.state.chat_requests) == 2


async def test_retry_after_is_waited_for(make_client: AppFactory, fake_llm: FakeLLMServer) -> None:
    client = await make_client(**STEADY, provider_retry_max_seconds=5.0)
    agent = await create_agent(client)
    fake_llm.state.add(Reply(status=429, headers={"retry-after": "0.3"}), Reply(text="fine"))
    answer = await ok(json_turn(client, agent["id"], "hi"))
    assert answer["stop_reason"]["stop_reason"] == "end_turn"
    first, second = fake_llm.state.chat_times
    assert second - first >= 0.3
