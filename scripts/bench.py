"""Turn-overhead benchmark: the service against a model that answers at once.

    uv run python scripts/bench.py [--db sqlite|postgresql|both] [--turns 300] [--history 1000]

For each database it starts the fake model and ``sleeptime serve`` as real processes, then
reports sequential turn latency (p50/p95/p99), throughput at 8 and 32 concurrent clients
(each on its own agent: one turn at a time per agent), and how latency moves over a long
history (mean of the first and last 10% of ``--history`` turns on one agent). PostgreSQL runs
use a fresh database on ``--postgres`` (created and dropped here).
"""

import argparse
import asyncio
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[1]
MODEL = "openai/bench"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


@contextmanager
def _process(args: list[str], env: dict[str, str], ready: str) -> Iterator[None]:
    """Start a process and wait for ``ready`` on its stderr (a reader thread drains it)."""
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)  # noqa: S603 (our own commands)
    seen = threading.Event()
    lines: list[str] = []

    def drain() -> None:
        for line in proc.stderr or ():
            lines.append(line)
            if ready in line:
                seen.set()
        seen.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    seen.wait(60)
    if proc.poll() is not None:
        raise RuntimeError("process exited:\n" + "".join(lines[-20:]))
    try:
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)


@contextmanager
def _fake_model() -> Iterator[str]:
    port = _port()
    args = [sys.executable, "scripts/fake_openai.py", str(port)]
    with _process(args, dict(os.environ), "Uvicorn running"):
        yield f"http://127.0.0.1:{port}/v1"


@contextmanager
def _service(database_url: str, model_url: str) -> Iterator[str]:
    port = _port()
    env = {
        **os.environ,
        "SLEEPTIME_DATABASE_URL": database_url,
        "SLEEPTIME_OPENAI_BASE_URL": model_url,
        "SLEEPTIME_OPENAI_MODELS": "bench",
        "SLEEPTIME_LOG_LEVEL": "WARNING",
        "SLEEPTIME_AUTO_MIGRATE": "true",
    }
    args = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    env["SLEEPTIME_LOG_LEVEL"] = "INFO"  # the ready line is logged at INFO
    with _process(args, env, "Uvicorn running"):
        yield f"http://127.0.0.1:{port}"


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _agent(client: httpx.AsyncClient) -> str:
    response = await client.post(
        "/v1/agents/",
        json={"model": MODEL, "memory_blocks": [{"label": "human", "value": "Name: Ana"}]},
    )
    response.raise_for_status()
    agent_id: str = response.json()["id"]
    return agent_id


async def _turn(client: httpx.AsyncClient, agent_id: str, text: str) -> float:
    started = time.perf_counter()
    response = await client.post(f"/v1/agents/{agent_id}/messages", json={"input": text})
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json()["stop_reason"]["stop_reason"] != "end_turn":
        raise RuntimeError(f"turn failed: {response.status_code} {response.text[:200]}")
    return elapsed


async def _sequential(client: httpx.AsyncClient, turns: int) -> list[float]:
    agent = await _agent(client)
    for i in range(20):  # warm up connections and caches
        await _turn(client, agent, f"warm {i}")
    return [await _turn(client, agent, f"hello {i}") for i in range(turns)]


async def _throughput(client: httpx.AsyncClient, workers: int, seconds: float) -> tuple[float, int]:
    agents = [await _agent(client) for _ in range(workers)]
    done, errors = 0, 0
    deadline = time.perf_counter() + seconds

    async def worker(agent: str) -> None:
        nonlocal done, errors
        while time.perf_counter() < deadline:
            try:
                await _turn(client, agent, "hi")
                done += 1
            except (RuntimeError, httpx.HTTPError):
                errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker(a) for a in agents))
    return done / (time.perf_counter() - started), errors


async def _history(client: httpx.AsyncClient, turns: int) -> tuple[float, float]:
    agent = await _agent(client)
    times = [await _turn(client, agent, f"message number {i}") for i in range(turns)]
    tenth = max(1, turns // 10)
    return statistics.mean(times[:tenth]), statistics.mean(times[-tenth:])


async def _measure(base_url: str, args: argparse.Namespace) -> None:
    limits = httpx.Limits(max_connections=64, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=base_url, timeout=60, limits=limits) as client:
        seq = await _sequential(client, args.turns)
        ms = [t * 1000 for t in seq]
        _out(
            f"  sequential ({len(ms)} turns): p50 {_pct(ms, 0.5):.2f} ms  "
            f"p95 {_pct(ms, 0.95):.2f} ms  p99 {_pct(ms, 0.99):.2f} ms"
        )
        for workers in (8, 32):
            rate, errors = await _throughput(client, workers, args.seconds)
            _out(f"  {workers} clients: {rate:.0f} turns/s, {errors} errors")
        if args.history:
            first, last = await _history(client, args.history)
            _out(
                f"  history of {args.history} turns: first 10% {first * 1000:.2f} ms, "
                f"last 10% {last * 1000:.2f} ms, ratio {last / first:.2f}"
            )


async def _pg_database(admin_url: str, action: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(
            f'{action} DATABASE "{name}"' + (" WITH (FORCE)" if action == "DROP" else "")
        )
    finally:
        await conn.close()


def run(db: str, args: argparse.Namespace) -> None:
    _out(f"== {db}")
    with _fake_model() as model_url, tempfile.TemporaryDirectory() as tmp:
        if db == "sqlite":
            with _service(f"sqlite+aiosqlite:///{tmp}/bench.db", model_url) as base:
                asyncio.run(_measure(base, args))
            return
        name = f"sleeptime_bench_{uuid.uuid4().hex[:8]}"
        admin = args.postgres
        asyncio.run(_pg_database(admin, "CREATE", name))
        try:
            url = (
                admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
                + f"/{name}"
            )
            with _service(url, model_url) as base:
                asyncio.run(_measure(base, args))
        finally:
            asyncio.run(_pg_database(admin, "DROP", name))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--history", type=int, default=1000)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        run(db, args)


if __name__ == "__main__":
    main()
