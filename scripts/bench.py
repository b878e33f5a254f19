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
import json
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
from datetime import datetime
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
def _process(args: list[str], env: dict[str, str], ready: str) -> Iterator[subprocess.Popen[str]]:
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
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        proc.wait(30)


@contextmanager
def _fake_model(sleeptime_delay: float = 0.0, **extra: str) -> Iterator[str]:
    port = _port()
    args = [sys.executable, "scripts/fake_openai.py", str(port)]
    env = {**os.environ, "FAKE_SLEEPTIME_DELAY": str(sleeptime_delay), **extra}
    with _process(args, env, "Uvicorn running"):
        yield f"http://127.0.0.1:{port}/v1"


def _env(database_url: str, model_url: str, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "SLEEPTIME_DATABASE_URL": database_url,
        "SLEEPTIME_OPENAI_BASE_URL": model_url,
        "SLEEPTIME_OPENAI_MODELS": "bench",
        "SLEEPTIME_LOG_LEVEL": "INFO",  # the ready line is logged at INFO
        "SLEEPTIME_AUTO_MIGRATE": "true",
        **extra,
    }


@contextmanager
def _service(database_url: str, model_url: str, **extra: str) -> Iterator[str]:
    with _service_process(database_url, model_url, **extra) as (url, _pid):
        yield url


@contextmanager
def _service_process(database_url: str, model_url: str, **extra: str) -> Iterator[tuple[str, int]]:
    port = _port()
    args = [sys.executable, "-m", "app.cli", "serve", "--port", str(port)]
    with _process(args, _env(database_url, model_url, **extra), "Uvicorn running") as proc:
        yield f"http://127.0.0.1:{port}", proc.pid


@contextmanager
def _worker(database_url: str, model_url: str, **extra: str) -> Iterator[subprocess.Popen[str]]:
    args = [sys.executable, "-m", "app.cli", "worker"]
    with _process(args, _env(database_url, model_url, **extra), "worker.started") as proc:
        yield proc


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


async def _sleeptime_primary(client: httpx.AsyncClient) -> str:
    agent = (
        await client.post("/v1/agents/", json={"model": MODEL, "enable_sleeptime": True})
    ).json()
    group = agent["managed_group"]["id"]
    config = {"manager_type": "sleeptime", "sleeptime_agent_frequency": 1}
    await client.patch(f"/v1/groups/{group}", json={"manager_config": config})
    return str(agent["id"])


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


async def _sleeptime_start(client: httpx.AsyncClient, turns: int) -> list[float]:
    """Time from a turn's end to its sleeptime run's start, each with an idle queue."""
    agent = await _sleeptime_primary(client)
    delays = []
    for i in range(turns):
        body = (await client.post(f"/v1/agents/{agent}/messages", json={"input": f"hi {i}"})).json()
        parent = (await client.get(f"/v1/runs/{body['messages'][0]['run_id']}")).json()
        [run_id] = body["usage"]["run_ids"]
        run = (await client.get(f"/v1/runs/{run_id}", params={"wait": 30})).json()
        delays.append(_ts(run["started_at"]) - _ts(parent["completed_at"]))
    return delays


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
        if args.sleeptime:
            ms = [d * 1000 for d in await _sleeptime_start(client, args.sleeptime)]
            _out(
                f"  sleeptime run start after its turn ({len(ms)} runs): p50 {_pct(ms, 0.5):.2f} ms"
                f"  p95 {_pct(ms, 0.95):.2f} ms  max {max(ms):.2f} ms"
            )
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


async def _reclaim(
    base: str,
    url: str,
    model_url: str,
    workers: dict[int, subprocess.Popen[str]],
    lease: float,
    delay: float,
) -> None:
    """Kill -9 the worker holding a sleeptime run; time until another worker finishes it."""
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        agent = await _sleeptime_primary(client)
        body = (await client.post(f"/v1/agents/{agent}/messages", json={"input": "hi"})).json()
        [run_id] = body["usage"]["run_ids"]
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            owner = None
            while owner is None:  # the claim happens within milliseconds of the turn
                owner = await conn.fetchval("SELECT lease_owner FROM runs WHERE id = $1", run_id)
                await asyncio.sleep(0.01)
        finally:
            await conn.close()
        pid = int(owner.split(":")[1])
        killed = time.perf_counter()
        workers[pid].kill()
        run = (await client.get(f"/v1/runs/{run_id}", params={"wait": 60})).json()
        took = time.perf_counter() - killed
        _out(
            f"  reclaim after kill -9 (lease {lease:g} s): run {run['status']} after "
            f"{run['attempts']} attempts; re-claimed {took - delay:.2f} s after the kill"
        )


def reclaim(args: argparse.Namespace) -> None:
    _out("== postgresql: dead worker")
    lease, delay = 5.0, 1.0
    extra = {"SLEEPTIME_LEASE_SECONDS": str(lease), "SLEEPTIME_REAPER_SECONDS": "1"}
    name = f"sleeptime_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_database(args.postgres, "CREATE", name))
    url = (
        args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
        + f"/{name}"
    )
    try:
        with (
            _fake_model(sleeptime_delay=delay) as model_url,
            _service(url, model_url, SLEEPTIME_DISPATCHER="false", **extra) as base,
            _worker(url, model_url, **extra) as one,
            _worker(url, model_url, **extra) as two,
        ):
            asyncio.run(_reclaim(base, url, model_url, {one.pid: one, two.pid: two}, lease, delay))
    finally:
        asyncio.run(_pg_database(args.postgres, "DROP", name))


def _rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def _first_bytes(
    client: httpx.AsyncClient, agent: str, count: int
) -> tuple[list[float], list[float]]:
    """Per streamed turn: time to the first byte, and each token delta's travel time from the
    model to this client (the fake model stamps every delta with its send time)."""
    first, travel = [], []
    for i in range(count):
        started = time.perf_counter()
        body = {"input": f"hi {i}", "stream_tokens": True}
        async with client.stream("POST", f"/v1/agents/{agent}/messages/stream", json=body) as r:
            async for line in r.aiter_lines():
                if not first or len(first) <= i:
                    first.append(time.perf_counter() - started)
                if '"message_type":"assistant_message"' in line:
                    sent = float(json.loads(line[5:])["content"].rstrip("|"))
                    travel.append(time.time() - sent)
    return first, travel


async def _open_streams(base: str, pid: int, count: int) -> None:
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=count + 10)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        agents = [await _agent(client) for _ in range(count)]
        before = _rss_mib(pid)
        opened = asyncio.Event()
        ready = 0

        async def one(agent: str) -> None:
            nonlocal ready
            async with client.stream(
                "POST", f"/v1/agents/{agent}/messages/stream", json={"input": "hold"}
            ) as r:
                lines = r.aiter_lines()
                async for line in lines:
                    if line.startswith("data:") and ready < count:
                        ready += 1
                        if ready == count:
                            opened.set()
                        break
                async for _ in lines:
                    pass

        tasks = [asyncio.create_task(one(a)) for a in agents]
        await asyncio.wait_for(opened.wait(), 120)
        during = _rss_mib(pid)
        await asyncio.gather(*tasks)
        _out(
            f"  {count} concurrent open streams: service memory {before:.0f} MiB -> "
            f"{during:.0f} MiB (+{during - before:.0f} MiB)"
        )


def streams(args: argparse.Namespace) -> None:
    db = args.db if args.db != "both" else "postgresql"
    _out(f"== {db}: streaming")
    with tempfile.TemporaryDirectory() as tmp:
        url, name = _database_url(db, args, tmp)
        try:
            extra = {"FAKE_STREAM_CHUNKS": "20", "FAKE_STREAM_GAP": "0.005"}
            with _fake_model(**extra) as model_url, _service(url, model_url) as base:
                asyncio.run(_stream_latency(base, args.streams_turns))
            with (
                _fake_model(FAKE_HOLD_SECONDS="15") as model_url,
                _service_process(url, model_url) as (base, pid),
            ):
                asyncio.run(_open_streams(base, pid, args.streams))
        finally:
            if name:
                asyncio.run(_pg_database(args.postgres, "DROP", name))


def _database_url(db: str, args: argparse.Namespace, tmp: str) -> tuple[str, str | None]:
    if db == "sqlite":
        return f"sqlite+aiosqlite:///{tmp}/streams.db", None
    name = f"sleeptime_bench_{uuid.uuid4().hex[:8]}"
    asyncio.run(_pg_database(args.postgres, "CREATE", name))
    base = args.postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://")
    return f"{base}/{name}", name


async def _stream_latency(base: str, turns: int) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:
        agent = await _agent(client)
        await _first_bytes(client, agent, 5)  # warm up
        first, travel = await _first_bytes(client, agent, turns)
        f = [x * 1000 for x in first]
        t = [x * 1000 for x in travel]
        _out(
            f"  first byte ({len(f)} streams): p50 {_pct(f, 0.5):.2f} ms  "
            f"p95 {_pct(f, 0.95):.2f} ms"
        )
        _out(
            f"  token delta model -> client ({len(t)} deltas): p50 {_pct(t, 0.5):.2f} ms  "
            f"p95 {_pct(t, 0.95):.2f} ms  max {max(t):.2f} ms"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--turns", type=int, default=300)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--history", type=int, default=1000)
    parser.add_argument("--sleeptime", type=int, default=50, help="turns for the start latency")
    parser.add_argument("--reclaim", action="store_true", help="also time a dead worker's run")
    parser.add_argument(
        "--streams", type=int, default=0, help="also open this many streams at once"
    )
    parser.add_argument("--streams-turns", type=int, default=100)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
        run(db, args)
    if args.reclaim:
        reclaim(args)
    if args.streams:
        streams(args)


if __name__ == "__main__":
    main()
