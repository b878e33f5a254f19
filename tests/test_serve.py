"""The real ``sleeptime`` command in real processes: serve, migrate, the SQLite process lock."""

import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from letta_client import Letta

from tests.conftest import BACKEND, MODEL, DatabaseFactory
from tests.fakes.llm_server import FakeLLMServer

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 60


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _env(database_url: str, fake_llm: FakeLLMServer) -> dict[str, str]:
    return {
        **os.environ,
        "SLEEPTIME_DATABASE_URL": database_url,
        "SLEEPTIME_OPENAI_BASE_URL": fake_llm.base_url,
        "SLEEPTIME_OPENAI_MODELS": "gpt-4o-mini",
        "SLEEPTIME_LOG_LEVEL": "INFO",
    }


def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app.cli", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@contextmanager
def serving(env: dict[str, str], *extra: str) -> Iterator[str]:
    """Run ``sleeptime serve`` and yield its base URL once it reports that it is listening.

    A thread drains the server's stderr (so a full pipe never blocks it) and sets an event
    when the listening line goes by.
    """
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "app.cli", "serve", "--port", str(port), *extra],
        cwd=ROOT,
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    listening = threading.Event()
    lines: list[str] = []

    def drain() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)
            if "Uvicorn running on" in line:
                listening.set()
        listening.set()  # exited: let the waiter see it

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        listening.wait(STARTUP_TIMEOUT)
        assert process.poll() is None, "server exited before listening:\n" + "".join(lines)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=STARTUP_TIMEOUT)
        reader.join(timeout=STARTUP_TIMEOUT)
        if process.stderr is not None:
            process.stderr.close()


async def test_serve_and_use_it_with_the_sdk(
    database_factory: DatabaseFactory, fake_llm: FakeLLMServer
) -> None:
    env = _env(await database_factory.create(), fake_llm)
    extra = ("--migrate",) if BACKEND == "postgresql" else ()
    with serving(env, *extra) as base_url:
        letta = Letta(base_url=base_url, max_retries=0)
        assert letta.health().status == "ok"
        agent = letta.agents.create(
            name="proc",
            model=MODEL,
            enable_sleeptime=True,
            memory_blocks=[{"label": "human", "value": "Ana"}],
        )
        again = letta.agents.retrieve(agent.id, include=["agent.managed_group"])
        assert again.managed_group is not None
        assert len(list(letta.agents.list(limit=1))) == 2


async def test_second_process_on_one_sqlite_file_is_refused(
    database_factory: DatabaseFactory, fake_llm: FakeLLMServer, tmp_path: Path
) -> None:
    env = _env(f"sqlite+aiosqlite:///{tmp_path / 'one.db'}", fake_llm)
    with serving(env):
        second = _cli("serve", "--port", str(_free_port()), env=env)
        assert second.returncode == 1
        assert "another sleeptime process is already using" in second.stderr


async def test_unmigrated_database(
    database_factory: DatabaseFactory, fake_llm: FakeLLMServer
) -> None:
    """SQLite migrates itself; PostgreSQL refuses until `sleeptime migrate` has run."""
    env = _env(await database_factory.create(), fake_llm)
    if BACKEND == "sqlite":
        with serving(env) as base_url:
            assert Letta(base_url=base_url, max_retries=0).health().status == "ok"
        return
    refused = _cli("serve", "--port", str(_free_port()), env=env)
    assert refused.returncode == 1
    assert "sleeptime migrate" in refused.stderr
    migrated = _cli("migrate", env=env)
    assert migrated.returncode == 0, migrated.stderr
    assert "database at revision" in migrated.stdout
    with serving(env) as base_url:
        assert Letta(base_url=base_url, max_retries=0).health().status == "ok"
