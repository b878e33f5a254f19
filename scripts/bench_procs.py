"""Processes and databases for the benchmark: the fake model, the service, the limit proxy.

Every server is a real process started the way it runs in production (``sleeptime serve``;
the limit proxy under uvicorn with uvloop and httptools, as its docstring says). A process
counts as ready when its "Uvicorn running" line appears on stderr (read by a thread, no
polling) and a first ``GET /v1/health/`` answers 200; startup time is from ``Popen`` to that
answer.
"""

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
READY = "Uvicorn running"
START_TIMEOUT = 60.0
# Servers keep compiled bytecode, as an installed package has it (the image compiles it at
# build time), instead of compiling every module at every start when the environment says
# PYTHONDONTWRITEBYTECODE; under a prefix of ours, so nothing is written beside the sources.
BYTECODE = {"PYTHONDONTWRITEBYTECODE": "", "PYTHONPYCACHEPREFIX": str(ROOT / ".cache" / "pycache")}


@dataclass(frozen=True)
class Server:
    """One running HTTP server: where it answers, its process id, how long it took to start."""

    name: str
    url: str
    pid: int
    startup: float


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mib(pid: int) -> float:
    """Resident memory of ``pid`` (MiB), from /proc."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@contextmanager
def process(
    args: list[str], env: dict[str, str], ready: str = READY, cwd: Path = ROOT
) -> Iterator[subprocess.Popen[str]]:
    """Start a process, wait for ``ready`` on its stderr, stop it (SIGTERM) on exit.

    A thread keeps draining stderr for the whole life of the process, so a chatty server
    never blocks on a full pipe; the last lines are kept for the error message."""
    env = {**env, **BYTECODE}
    proc = subprocess.Popen(args, cwd=cwd, env=env, stderr=subprocess.PIPE, text=True)  # noqa: S603 (our own commands)
    seen = threading.Event()
    tail: deque[str] = deque(maxlen=40)

    def drain() -> None:
        for line in proc.stderr or ():
            tail.append(line)
            if ready in line:
                seen.set()
        seen.set()  # the process ended: stop waiting

    threading.Thread(target=drain, daemon=True).start()
    try:
        if not seen.wait(START_TIMEOUT) or proc.poll() is not None:
            raise RuntimeError(f"{args[2:4]} did not start:\n" + "".join(tail))
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _health(url: str) -> None:
    response = httpx.get(f"{url}/v1/health/", timeout=10)
    response.raise_for_status()


@contextmanager
def server(
    name: str, args: list[str], env: dict[str, str], port: int, cwd: Path = ROOT
) -> Iterator[Server]:
    url = f"http://127.0.0.1:{port}"
    started = time.perf_counter()
    with process(args, env, cwd=cwd) as proc:
        _health(url)
        yield Server(name, url, proc.pid, time.perf_counter() - started)


@contextmanager
def fake_model(**extra: str) -> Iterator[str]:
    """The instant OpenAI-compatible model (scripts/fake_openai.py); yields its base URL."""
    port = free_port()
    args = [sys.executable, "scripts/fake_openai.py", str(port)]
    env = {"FAKE_SLEEPTIME_DELAY": "0", **os.environ, **extra}
    with process(args, env):
        yield f"http://127.0.0.1:{port}/v1"


def service_env(database_url: str, model_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SLEEPTIME_DATABASE_URL": database_url,
        "SLEEPTIME_OPENAI_BASE_URL": model_url,
        "SLEEPTIME_OPENAI_MODELS": "bench",
        "SLEEPTIME_LOG_LEVEL": "INFO",  # the default; the ready line is logged at INFO
        "SLEEPTIME_AUTO_MIGRATE": "true",
        **extra,
    }


@contextmanager
def service(database_url: str, model_url: str, **extra: str) -> Iterator[Server]:
    """``sleeptime serve`` on ``database_url`` (migrated at start when new)."""
    port = free_port()
    args = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    with server("service", args, service_env(database_url, model_url, **extra), port) as srv:
        yield srv


@contextmanager
def worker(database_url: str, model_url: str, **extra: str) -> Iterator[subprocess.Popen[str]]:
    args = [sys.executable, "-m", "app.cli", "worker"]
    with process(args, service_env(database_url, model_url, **extra), "worker.started") as proc:
        yield proc


def limit_env(database_url: str, model_url: str) -> dict[str, str]:
    return {**os.environ, "LIMIT_DB_URL": database_url, "LIMIT_LLM_URL": model_url}


def init_limit(path: Path, database_url: str, model_url: str) -> None:
    """``python limit_proxy.py init``: create the limit proxy's schema."""
    subprocess.run(  # noqa: S603 (our own command)
        [sys.executable, path.name, "init"],
        cwd=path.parent,
        env=limit_env(database_url, model_url),
        check=True,
        capture_output=True,
    )


@contextmanager
def limit_proxy(path: Path, database_url: str, model_url: str) -> Iterator[Server]:
    """The limit proxy under uvicorn (uvloop, httptools, no access log), schema made by init."""
    port = free_port()
    args = [
        sys.executable, "-m", "uvicorn", f"{path.stem}:app", "--app-dir", str(path.parent),
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-access-log",
        "--loop", "uvloop", "--http", "httptools",
    ]  # fmt: skip
    with server("limit", args, limit_env(database_url, model_url), port, path.parent) as s:
        yield s


def pg_async_url(admin: str, name: str) -> str:
    return admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://") + f"/{name}"


async def _pg(admin: str, statement: str) -> None:
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


@contextmanager
def pg_database(admin: str, prefix: str = "sleeptime_bench") -> Iterator[str]:
    """A fresh PostgreSQL database (dropped afterwards); yields its SQLAlchemy URL."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg(admin, f'CREATE DATABASE "{name}"'))
    try:
        yield pg_async_url(admin, name)
    finally:
        asyncio.run(_pg(admin, f'DROP DATABASE "{name}" WITH (FORCE)'))


@contextmanager
def fresh_database(kind: str, admin: str, tmp: Path, name: str) -> Iterator[str]:
    """A new, empty database of ``kind`` (a file under ``tmp`` for SQLite)."""
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp / name}.db"
        return
    with pg_database(admin, f"bench_{name}") as url:
        yield url
