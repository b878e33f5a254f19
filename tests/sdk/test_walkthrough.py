"""The README's first session, run as it is written there (Python with the project's
``letta-client``, TypeScript with ``@letta-ai/letta-client``) against a live ``sleeptime
serve`` whose fake model plays the parts: a reply, a sleeptime run that rewrites the human
block, a streamed reply and a client-side tool call."""

import re
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import DatabaseFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.processes import Process, server_env
from tests.sdk import harness

README = harness.ROOT / "README.md"
README_URL = "http://127.0.0.1:8283"


def snippet(language: str) -> str:
    """The code block after ``<!-- walkthrough:LANGUAGE -->`` in the README."""
    found = re.search(
        rf"<!-- walkthrough:{language} -->\n```\w+\n(.*?)\n```", README.read_text(), re.S
    )
    assert found, f"no {language} walkthrough in the README"
    return found[1]


@pytest.fixture
async def server(database_factory: DatabaseFactory, fake_llm: FakeLLMServer) -> AsyncIterator[str]:
    env = server_env(
        await database_factory.create(),
        fake_llm.base_url,
        SLEEPTIME_PROVIDER_MAX_RETRIES="0",
    )
    process, url = Process.serve(env)
    try:
        yield url
    finally:
        process.stop()


def script_the_model(fake_llm: FakeLLMServer) -> None:
    fake_llm.state.add(
        Reply(text="Nice to meet you, Ana."),
        # The sleeptime run the first turn queued.
        Reply(tool_calls=[("memory_insert", {"label": "human", "new_string": "Flies gliders"})]),
        Reply(tool_calls=[("memory_finish_edits", {})]),
        Reply(text="You fly gliders."),
        Reply(tool_calls=[("get_weather", {"city": "Lyon"})]),
        Reply(text="Yes: sunny, light wind."),
    )


def run(command: list[str], cwd: Path) -> list[str]:
    done = subprocess.run(
        command,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=harness.SCRIPT_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    return done.stdout.splitlines()


def test_python(server: str, fake_llm: FakeLLMServer) -> None:
    script_the_model(fake_llm)
    code = snippet("python").replace(README_URL, server)
    lines = run([sys.executable, "-c", code], cwd=harness.ROOT)
    assert lines[0].startswith("sleeptime agent: agent-")
    assert lines[1:] == [
        "reply: Nice to meet you, Ana.",
        "sleeptime run: completed tool_rule",
        "human block: Name: Ana",
        "Flies gliders",
        "streamed: You fly gliders.",
        "stopped for: requires_approval",
        "reply: Yes: sunny, light wind.",
    ]
    weather = fake_llm.state.chat_requests[-1]["messages"][-1]
    assert weather["role"] == "tool" and "Lyon: sunny, light wind" in weather["content"]


def test_typescript(server: str, fake_llm: FakeLLMServer, node: str) -> None:
    script_the_model(fake_llm)
    code = snippet("typescript").replace(README_URL, server)
    # In the SDK's folder, so that the import finds its node_modules.
    path = harness.TS_DIR / f".walkthrough-{uuid.uuid4().hex}.mjs"
    path.write_text(code)
    try:
        lines = run([node, str(path)], cwd=harness.TS_DIR)
    finally:
        path.unlink()
    assert lines == [
        "sleeptime run: completed tool_rule",
        "human block: Name: Ana",
        "Flies gliders",
        "streamed: You fly gliders.",
        "reply: Yes: sunny, light wind.",
    ]
