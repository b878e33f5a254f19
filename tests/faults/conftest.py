"""The model-fault suite runs the real service and provider code in-process against the
fault-injecting fake provider on loopback, with a short provider timeout so hangs are quick."""

import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import AppFactory
from tests.fakes.llm_server import FakeLLMServer

# Two retries: a fault repeated three times is final, once is recovered from.
RETRIES = 2
FAST: dict[str, float] = {"provider_timeout_seconds": 1.0, "provider_max_retries": RETRIES}


@pytest.fixture
def release(fake_llm: FakeLLMServer) -> Iterator[threading.Event]:
    """Set at the end of the test: frees whatever reply the fake is holding back."""
    event = threading.Event()
    yield event
    event.set()


@pytest.fixture
async def client(make_client: AppFactory) -> httpx.AsyncClient:
    return await make_client(**FAST)
