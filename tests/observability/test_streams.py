"""``sleeptime_sse_streams_open`` against a real server: one while a client reads a stream,
none once it has ended. The model's answer is held, so the stream is open for as long as
the test needs; nothing is timed."""

import threading
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import MODEL, DatabaseFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import ok
from tests.observability.helpers import scrape, value
from tests.processes import Process, server_env

OPEN = "sleeptime_sse_streams_open"


@pytest.fixture
async def http(
    database_factory: DatabaseFactory, fake_llm: FakeLLMServer
) -> AsyncIterator[httpx.AsyncClient]:
    env = server_env(
        await database_factory.create(),
        fake_llm.base_url,
        SLEEPTIME_METRICS_REFRESH_SECONDS="0",
    )
    process, url = Process.serve(env)
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            yield client
    finally:
        process.stop()


async def test_open_streams_are_counted(http: httpx.AsyncClient, fake_llm: FakeLLMServer) -> None:
    agent = await ok(http.post("/v1/agents/", json={"name": "streamer", "model": MODEL}))
    assert value(await scrape(http), OPEN) == 0
    hold = threading.Event()
    fake_llm.state.add(Reply(text="held for a while", hold=hold))
    try:
        path = f"/v1/agents/{agent['id']}/messages/stream"
        async with http.stream("POST", path, json={"input": "hi"}) as response:
            lines = response.aiter_lines()
            async for line in lines:
                if line.startswith("data:"):  # the first ping: the stream is being sent
                    break
            assert value(await scrape(http), OPEN) == 1
            hold.set()
            rest = [line async for line in lines]  # to the end of the body
            assert "data: [DONE]" in rest
    finally:
        hold.set()
    series = await scrape(http)
    assert value(series, OPEN) == 0
    ok_calls = {"provider": "openai", "outcome": "ok"}
    assert value(series, "sleeptime_provider_requests_total", **ok_calls) == 1
    assert value(series, "sleeptime_tokens_total", kind="completion") == 7
