"""A real uvicorn server for the streaming tests, with a short retention and keepalive."""

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import DatabaseFactory
from tests.fakes.llm_server import FakeLLMServer
from tests.processes import Process, server_env


@pytest.fixture(scope="module")
async def server(
    database_factory: DatabaseFactory, _fake_llm_server: FakeLLMServer
) -> AsyncIterator[str]:
    env = server_env(
        await database_factory.create(),
        _fake_llm_server.base_url,
        SLEEPTIME_LOG_LEVEL="INFO",
        SLEEPTIME_PROVIDER_MAX_RETRIES="0",
        SLEEPTIME_STREAM_KEEPALIVE_SECONDS="0.5",
    )
    process, url = Process.serve(env)
    try:
        yield url
    finally:
        process.stop()


@pytest.fixture
async def http(server: str, fake_llm: FakeLLMServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        yield client
