"""OpenTelemetry traces: with tracing on, a turn with a tool call leaves nested spans (request >
turn > step > provider call and tool) with their attributes; with it off (the default), the
app never imports the SDK, an exporter or the module that uses them. (The bare
``opentelemetry`` API is another matter: FastAPI itself imports it.)"""

import asyncio
import importlib.util
import json
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import pytest
from fastapi import Response
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from app import commands
from app.config import Settings
from app.kit import tracing
from tests.conftest import AppAndClient
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import MODEL, create_agent, ok

ROOT = Path(__file__).resolve().parents[2]
MakeApp = Callable[..., Awaitable[AppAndClient]]


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.install(exporter)
    yield exporter
    tracing.uninstall()


def _one(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    [found] = [span for span in spans if span.name == name]
    return found


def _parent(span: ReadableSpan, spans: list[ReadableSpan]) -> ReadableSpan:
    assert span.parent is not None, span.name
    [parent] = [
        s for s in spans if s.context is not None and s.context.span_id == span.parent.span_id
    ]
    return parent


async def test_a_turn_with_a_tool_call_is_traced(
    make_app: MakeApp,
    fake_llm: FakeLLMServer,
    spans: InMemorySpanExporter,
) -> None:
    _app, client = await make_app(otel_enabled=True)
    agent = await create_agent(client, tools=["conversation_search"])
    fake_llm.state.add(
        Reply(tool_calls=[("conversation_search", {"query": "tea"})]), Reply(text="done")
    )
    spans.clear()
    turn = await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hi"}))
    finished = list(spans.get_finished_spans())

    request = _one(finished, "POST /v1/agents/{agent_id}/messages")
    assert request.parent is None
    assert request.attributes is not None
    assert request.attributes["http.route"] == "/v1/agents/{agent_id}/messages"
    assert request.attributes["http.response.status_code"] == 200

    run_id = turn["messages"][0]["run_id"]
    turn_span = _one(finished, "turn")
    assert _parent(turn_span, finished) is request
    assert dict(turn_span.attributes or {}) == {
        "run_id": run_id,
        "agent_id": agent["id"],
        "kind": "foreground",
        "outcome": "end_turn",
    }

    steps = sorted(
        (s for s in finished if s.name == "step"), key=lambda s: (s.attributes or {})["step"]
    )
    assert [(s.attributes or {})["step"] for s in steps] == [0, 1]
    assert all(_parent(step, finished) is turn_span for step in steps)
    assert all((s.attributes or {})["run_id"] == run_id for s in steps)

    calls = [s for s in finished if s.name == "provider call"]
    assert [_parent(call, finished) for call in calls] == steps
    assert all(
        dict(call.attributes or {})
        == {"provider": "openai", "model": MODEL.split("/", 1)[1], "outcome": "ok"}
        for call in calls
    )
    tool = _one(finished, "tool")
    assert _parent(tool, finished) is steps[0]
    assert dict(tool.attributes or {}) == {
        "tool": "conversation_search",
        "tool_kind": "session",
        "outcome": "success",
    }


async def test_a_failed_provider_call_is_recorded_on_its_span(
    make_app: MakeApp,
    fake_llm: FakeLLMServer,
    spans: InMemorySpanExporter,
) -> None:
    _app, client = await make_app(otel_enabled=True)
    agent = await create_agent(client)
    fake_llm.state.add(Reply(status=400))
    spans.clear()
    refused = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "no"})
    assert refused.status_code == 400, refused.text
    call = _one(list(spans.get_finished_spans()), "provider call")
    assert (call.attributes or {})["outcome"] == "llm_bad_request"
    assert call.status.status_code is StatusCode.ERROR
    assert [event.name for event in call.events] == ["exception"]


async def test_a_request_that_fails_marks_its_span(
    make_app: MakeApp, spans: InMemorySpanExporter
) -> None:
    app, client = await make_app(otel_enabled=True)

    async def boom() -> None:
        raise RuntimeError("a bug")

    async def bad_gateway() -> Response:
        return Response(status_code=502)

    app.add_api_route("/boom", boom)
    app.add_api_route("/bad-gateway", bad_gateway)
    assert (await client.get("/boom")).status_code == 500
    assert (await client.get("/bad-gateway")).status_code == 502
    finished = list(spans.get_finished_spans())
    request = _one(finished, "GET /boom")
    # The bug left the span (the request-log middleware outside it answers the 500).
    assert request.status.status_code is StatusCode.ERROR
    assert [event.name for event in request.events] == ["exception"]
    answered = _one(finished, "GET /bad-gateway")
    assert (answered.attributes or {})["http.response.status_code"] == 502
    assert answered.status.status_code is StatusCode.ERROR
    assert answered.status.description == "HTTP 502"


async def test_a_dispatched_run_is_a_trace_of_its_own(
    make_app: MakeApp, spans: InMemorySpanExporter
) -> None:
    app, client = await make_app(otel_enabled=True)
    agent = await create_agent(client)
    run = await ok(client.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": "hi"}))
    await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)
    finished = list(spans.get_finished_spans())
    turn = _one(finished, "turn")
    assert turn.parent is None
    assert (turn.attributes or {})["run_id"] == run["id"]
    assert (turn.attributes or {})["kind"] == "async"
    [step] = [s for s in finished if s.name == "step"]
    assert _parent(step, finished) is turn
    assert _parent(_one(finished, "provider call"), finished) is step


_OFF = """
import asyncio, sys
import httpx
from app import commands
from app.config import Settings
from app.main import create_app

async def main() -> None:
    settings = Settings.model_validate_json(sys.argv[1])
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            agent = await client.post("/v1/agents/", json={"model": sys.argv[2]})
            assert agent.status_code == 200, agent.text
            path = f"/v1/agents/{agent.json()['id']}/messages"
            turn = await client.post(path, json={"input": "hi"})
            assert turn.status_code == 200, turn.text
    heavy = ("opentelemetry.sdk", "opentelemetry.exporter", "app.kit.otel")
    loaded = sorted(name for name in sys.modules if name.startswith(heavy))
    sys.stdout.write(repr(loaded))

asyncio.run(main())
"""


def test_with_tracing_off_the_sdk_is_never_imported(settings: Settings) -> None:
    given = {
        "database_url": settings.database_url,
        "openai_base_url": settings.openai_base_url,
        "openai_models": settings.openai_models,
        "log_level": "WARNING",
    }
    done = subprocess.run(
        [sys.executable, "-c", _OFF, json.dumps(given), MODEL],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "[]"


def test_enabled_without_the_extra_is_one_clear_line(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    enabled = settings.model_copy(update={"otel_enabled": True})
    assert tracing.problem(settings) is None
    assert tracing.problem(enabled) is None  # the dev environment has the extra's packages
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert tracing.problem(settings) is None  # off: nothing is needed
    assert tracing.problem(enabled) == tracing.MISSING
    assert "pip install 'sleeptime-server[otel]'" in tracing.MISSING
    assert "uv sync --extra otel" in tracing.MISSING
    with pytest.raises(RuntimeError, match=r"sleeptime-server\[otel\]"):
        tracing.start(enabled)
    assert not tracing.enabled()


@pytest.mark.parametrize("command", ["serve", "worker"])
def test_a_command_enabled_without_the_extra_refuses_to_start(
    command: str,
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    enabled = settings.model_copy(update={"otel_enabled": True})
    monkeypatch.setattr(commands, "get_settings", lambda: enabled)
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    assert commands.run(commands.parse([command])) == 1
    assert capsys.readouterr().err == f"sleeptime: error: {tracing.MISSING}\n"
