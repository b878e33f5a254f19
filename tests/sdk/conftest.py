"""A live ``sleeptime serve`` on loopback with a world of lists to walk, and the SDKs."""

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import DatabaseFactory
from tests.fakes.llm_server import FakeLLMServer
from tests.lists import ListWorld, build, expected
from tests.processes import Process
from tests.sdk import harness


@dataclass(frozen=True)
class Live:
    base_url: str
    world: ListWorld
    walks: dict[str, list[str]]  # what walking each list must give, in order
    models: list[str]


@pytest.fixture(scope="module")
async def server(
    database_factory: DatabaseFactory, _fake_llm_server: FakeLLMServer
) -> AsyncIterator[str]:
    """``sleeptime serve`` on a database of its own, with queued runs left queued (no
    dispatcher), so nothing moves while an SDK looks; the fake model echoes."""
    env = {
        "SLEEPTIME_DATABASE_URL": await database_factory.create(),
        "SLEEPTIME_OPENAI_BASE_URL": _fake_llm_server.base_url,
        "SLEEPTIME_OPENAI_MODELS": "gpt-4o-mini,gpt-4.1",
        "SLEEPTIME_AUTO_MIGRATE": "true",
        "SLEEPTIME_DISPATCHER": "false",
        "SLEEPTIME_PROVIDER_MAX_RETRIES": "0",
        "SLEEPTIME_LOG_LEVEL": "INFO",
    }
    process, url = Process.serve(env)
    _fake_llm_server.state.reset()
    try:
        yield url
    finally:
        _fake_llm_server.state.reset()
        process.stop()


@pytest.fixture(scope="module")
async def live(server: str, _fake_llm_server: FakeLLMServer) -> Live:
    """The server with a world of lists to walk, and what each walk must give."""
    async with httpx.AsyncClient(base_url=server, timeout=30) as client:
        world = await build(client, _fake_llm_server)
        walks = await expected(client, world)
        models = [m["handle"] for m in (await client.get("/v1/models/")).json()]
    return Live(server, world, walks, models)


@pytest.fixture(scope="session")
def python_sdk_1_7_0() -> Path:
    return harness.python_sdk("1.7.0")


@pytest.fixture(scope="session")
def node() -> str:
    return harness.typescript_sdk()
