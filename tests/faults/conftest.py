"""The model-fault suite runs the real service and provider code in-process against the
fault-injecting fake provider on loopback. Provider calls get a generous timeout, so a busy
machine never turns another fault into a timeout; the cases that hang use a short one."""

import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import AppFactory
from tests.fakes.llm_server import FakeLLMServer

# Two retries: a fault repeated three times is final, once is recovered from.
RETRIES = 2
STEADY: dict[str, float] = {"provider_timeout_seconds": 30.0, "provider_max_retries": RETRIES}
# For the cases where the provider hangs: the timeout they wait for.
FAST: dict[str, float] = STEADY | {"provider_timeout_seconds": 1.0}


@pytest.fixture
def release(fake_llm: FakeLLMServer) -> Iterator[threading.Event]:
    """Set at the end of the test: frees whatever reply the fake is holding back."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
async def client(make_client: AppFactory) -> httpx.AsyncClient:
    return await make_client(**STEADY)
