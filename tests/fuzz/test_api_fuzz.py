"""Property-based API test: generated requests for every operation of the OpenAPI document,
sent to the app on this test's database; no answer may be a 5xx, and every answer must be a
status code, content type and body the document declares.

The short run (a few examples per operation, derandomized so a failure reproduces) is part
of the normal suite. ``SLEEPTIME_FUZZ_EXAMPLES=500 uv run pytest tests/fuzz`` runs the long
one, with fresh random inputs each time.

The app runs its lifespan on an event loop of its own thread, as a server would: hypothesis
drives each case synchronously and waits for its answer.
"""

import asyncio
import os
import threading
from collections.abc import Coroutine, Iterator
from typing import Any, TypeVar

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from app.config import Settings
from app.main import create_app
from tests.conftest import clean_tables
from tests.fakes.llm_server import FakeLLMServer

T = TypeVar("T")
LONG_EXAMPLES = int(os.environ.get("SLEEPTIME_FUZZ_EXAMPLES", "0"))
EXAMPLES = LONG_EXAMPLES or 4
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


class LiveApp:
    """The app with its lifespan entered, on an event loop in a thread of its own."""

    def __init__(self, settings: Settings) -> None:
        self.app = create_app(settings)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._lifespan = self.app.router.lifespan_context(self.app)
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app, raise_app_exceptions=False),
            base_url="http://testserver",
            timeout=30,
        )

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout=120)

    def __enter__(self) -> "LiveApp":
        self._thread.start()
        self.run(self._lifespan.__aenter__())
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.run(clean_tables(self.app.state.db))
            self.run(self.client.aclose())
            self.run(self._lifespan.__aexit__(None, None, None))
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join()
            self._loop.close()

    def send(self, kwargs: dict[str, Any]) -> httpx.Response:
        request = {k: v for k, v in kwargs.items() if k in _HTTPX_ARGUMENTS}
        if isinstance(request.get("data"), bytes | str):  # a raw body, in httpx's terms
            request["content"] = request.pop("data")
        return self.run(self.client.request(**request))


_HTTPX_ARGUMENTS = {"method", "url", "params", "headers", "json", "content", "data"}


@pytest.fixture(scope="module")
def live(database_url: str, _fake_llm_server: FakeLLMServer) -> Iterator[LiveApp]:
    """One app for the whole run (its rows are deleted at the end)."""
    settings = Settings(
        database_url=database_url,
        openai_base_url=_fake_llm_server.base_url,
        openai_models=["gpt-4o-mini"],
        log_level="WARNING",
        turn_wait_seconds=0.5,
        mcp_stdio=False,  # generated MCP configurations must not start commands
    )
    with LiveApp(settings) as live_app:
        yield live_app


# The document does not depend on settings: any app built here has the one served.
_DOCUMENT = create_app(Settings(database_url="sqlite+aiosqlite://", log_level="WARNING")).openapi()
schema = schemathesis.openapi.from_dict(_DOCUMENT)


@schema.parametrize()
@hypothesis_settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG_EXAMPLES,
    database=None,
    phases=[Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_api(case: Any, live: LiveApp) -> None:
    response = live.send(case.as_transport_kwargs(base_url="http://testserver"))
    case.validate_response(response, checks=CHECKS)
