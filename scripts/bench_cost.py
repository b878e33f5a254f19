"""What a turn costs, in measures a busy machine does not change: statements and instructions.

    uv run python scripts/bench_cost.py statements [--db sqlite|postgresql|both] [--turns N]
        [--conversation]
    uv run python scripts/bench_cost.py cpu [--db ...] [--turns N] [--limit-proxy PATH]

``statements`` runs the app in this process (through its ASGI interface, against the instant
fake model in a process of its own) and counts, per sequential JSON turn, the statements the
driver executes (SQLite's ``BEGIN`` included), the commits, and the pool checkouts (each a
round trip on PostgreSQL while ``pool_pre_ping`` is on); it lists one turn's statements.
With ``--conversation`` the turns are sent to a conversation of the agent (``POST
/v1/conversations/{id}/messages``, JSON) instead of its main thread.

With ``--profile FILE``, the counted turns also run under cProfile, timing the CPU of the
event loop's thread (stats in ``FILE.<db>``, for ``python -m pstats``): the client side of the
ASGI exchange is in the profile too.

``cpu`` starts ``sleeptime serve`` and the limit proxy, each under ``valgrind
--tool=callgrind`` with instrumentation off, warms each up, then counts the instructions the
server process executes for ``--turns`` sequential turns (``callgrind_control`` switches the
count on and off around them). Instruction counts repeat to within a percent or two whatever
else runs on the machine, where wall-clock times do not; the ratio to the limit proxy's count
is the CPU half of the latency targets.
"""

import argparse
import asyncio
import cProfile
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bench_load
import bench_procs
import httpx
from bench_report import out
from sqlalchemy import event

from app.config import Settings
from app.main import create_app

DEFAULT_LIMIT = bench_procs.ROOT.parent / "shared" / "bench" / "limit_proxy.py"
# The service's background loops (claims, heartbeats, the reaper) wake on timers; under
# callgrind a turn takes fifty times as long, so at their usual pace they would add their
# own instructions to every turn's count. Here they wake once an hour.
_QUIET = {
    "SLEEPTIME_POLL_SECONDS": "3600",
    "SLEEPTIME_REAPER_SECONDS": "3600",
    "SLEEPTIME_LEASE_SECONDS": "3600",
}
WARMUP = 20


@dataclass
class Counts:
    statements: int = 0
    commits: int = 0
    checkouts: int = 0
    texts: list[str] = field(default_factory=list)


def _shape(statement: str) -> str:
    """A statement's first line, short: enough to tell the statements of a turn apart."""
    return re.sub(r"\s+", " ", statement).strip()[:110]


async def _conversation(http: httpx.AsyncClient, agent: str) -> str:
    created = await http.post("/v1/conversations/", params={"agent_id": agent})
    created.raise_for_status()
    conversation_id: str = created.json()["id"]
    return conversation_id


async def _conversation_turns(http: httpx.AsyncClient, conversation_id: str, turns: int) -> None:
    """Sequential JSON turns in the conversation."""
    path = f"/v1/conversations/{conversation_id}/messages"
    for i in range(turns):
        body = {"messages": [{"role": "user", "content": f"hello {i}"}], "streaming": False}
        response = await http.post(path, json=body)
        if response.status_code != 200:
            raise bench_load.TurnFailed(f"turn failed: {response.status_code} {response.text}")


async def _count_turns(
    database_url: str,
    model_url: str,
    turns: int,
    profile: Path | None = None,
    conversation: bool = False,
) -> Counts:
    settings = Settings(
        database_url=database_url,
        openai_base_url=model_url,
        openai_models=["bench"],
        log_level="WARNING",
        auto_migrate=True,
    )
    app = create_app(settings)
    counts = Counts()
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            agent = await bench_load.agent(http)
            await bench_load.sequential(http, agent, WARMUP)
            conversation_id = await _conversation(http, agent) if conversation else None
            if conversation_id:
                await _conversation_turns(http, conversation_id, WARMUP)
            engine = app.state.db.engine.sync_engine

            def executed(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
                counts.statements += 1
                counts.texts.append(_shape(statement))

            def committed(conn: Any) -> None:
                counts.commits += 1

            def checked_out(*args: Any) -> None:
                counts.checkouts += 1

            event.listen(engine, "before_cursor_execute", executed)
            event.listen(engine, "commit", committed)
            event.listen(engine.pool, "checkout", checked_out)
            profiler = cProfile.Profile(time.thread_time) if profile else None
            try:
                if profiler:
                    profiler.enable()
                if conversation_id:
                    await _conversation_turns(http, conversation_id, turns)
                else:
                    await bench_load.sequential(http, agent, turns)
            finally:
                if profiler:
                    profiler.disable()
                    profiler.dump_stats(profile)
                event.remove(engine, "before_cursor_execute", executed)
                event.remove(engine, "commit", committed)
                event.remove(engine.pool, "checkout", checked_out)
    return counts


def statements(db: str, args: argparse.Namespace, model_url: str) -> None:
    profile = Path(f"{args.profile}.{db}") if args.profile else None
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_procs.fresh_database(db, args.postgres, Path(tmp), "cost") as url,
    ):
        counts = asyncio.run(
            _count_turns(url, model_url, args.turns, profile, conversation=args.conversation)
        )
    n = args.turns
    out(
        f"== {db}: per turn {counts.statements / n:.2f} statements, {counts.commits / n:.2f}"
        f" commits, {counts.checkouts / n:.2f} pool checkouts"
    )
    per_turn = len(counts.texts) // n
    for shape, times in Counter(counts.texts[:per_turn]).items():
        out(f"  {times} x {shape}")


@contextmanager
def _callgrind(
    args: list[str], env: dict[str, str], cwd: Path, out_file: Path
) -> Iterator[tuple[str, int]]:
    """A server under callgrind, counting nothing until told to; yields its URL and process
    id (valgrind runs the program in its own process)."""
    port = bench_procs.free_port()
    command = [
        "valgrind",
        "--tool=callgrind",
        "--instr-atstart=no",
        f"--callgrind-out-file={out_file}",
        sys.executable,
        *[a.replace("PORT", str(port)) for a in args],
    ]
    with bench_procs.process(command, env, cwd=cwd) as proc:
        url = f"http://127.0.0.1:{port}"
        httpx.get(f"{url}/v1/health/", timeout=120).raise_for_status()
        yield url, proc.pid
    if proc.returncode not in (0, -15):
        raise RuntimeError(f"server under callgrind ended with {proc.returncode}")


def _instructions(pid_file: Path) -> int:
    total = 0
    for path in pid_file.parent.glob(pid_file.name + "*"):
        match = re.search(r"^totals:\s+(\d+)", path.read_text(), re.MULTILINE)
        if match:
            total += int(match.group(1))
    return total


async def _warm(url: str) -> str:
    async with bench_load.client(url) as http:
        http.timeout = httpx.Timeout(300)
        agent = await bench_load.agent(http)
        await bench_load.sequential(http, agent, WARMUP)
        return agent


async def _turns(url: str, agent: str, turns: int) -> None:
    async with bench_load.client(url) as http:
        http.timeout = httpx.Timeout(300)
        await bench_load.sequential(http, agent, turns)


def _instrument(pid: int, on: bool) -> None:
    control = shutil.which("callgrind_control") or "callgrind_control"
    command = [control, f"--instr={'on' if on else 'off'}", str(pid)]
    subprocess.run(command, check=True, capture_output=True)  # noqa: S603 (our own command)


def _measure(url: str, turns: int, pid: int) -> None:
    agent = asyncio.run(_warm(url))
    _instrument(pid, on=True)
    asyncio.run(_turns(url, agent, turns))
    _instrument(pid, on=False)


def cpu(db: str, args: argparse.Namespace, model_url: str) -> None:
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        with (
            bench_procs.fresh_database(db, args.postgres, tmp, "limit") as limit_url,
            bench_procs.fresh_database(db, args.postgres, tmp, "service") as service_url,
        ):
            bench_procs.init_limit(args.limit_proxy, limit_url, model_url)
            proxy = args.limit_proxy
            limit_args = [
                "-m", "uvicorn", f"{proxy.stem}:app", "--app-dir", str(proxy.parent),
                "--host", "127.0.0.1", "--port", "PORT", "--workers", "1", "--no-access-log",
                "--loop", "uvloop", "--http", "httptools",
            ]  # fmt: skip
            servers = {
                "limit": (
                    limit_args,
                    bench_procs.limit_env(limit_url, model_url),
                    proxy.parent,
                ),
                "service": (
                    ["-m", "app.cli", "serve", "--port", "PORT"],
                    bench_procs.service_env(service_url, model_url, **_QUIET),
                    bench_procs.ROOT,
                ),
            }
            for name, (server_args, env, cwd) in servers.items():
                out_file = tmp / f"{name}.callgrind"
                with _callgrind(server_args, env, cwd, out_file) as (url, pid):
                    _measure(url, args.turns, pid)
                results[name] = _instructions(out_file) / args.turns
                if not results[name]:
                    found = sorted(p.name for p in tmp.iterdir())
                    head = out_file.read_text()[:3000]
                    raise RuntimeError(f"no instructions counted for {name}: {found}\n{head}")
    ratio = results["service"] / results["limit"]
    out(
        f"== {db}: instructions per turn: service {results['service'] / 1e6:.1f} M,"
        f" limit {results['limit'] / 1e6:.1f} M, ratio {ratio:.2f}x"
    )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("what", choices=["statements", "cpu"])
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--turns", type=int, default=0, help="measured turns (default 50 / 20)")
    parser.add_argument("--limit-proxy", type=Path, default=DEFAULT_LIMIT)
    parser.add_argument("--profile", type=Path, help="statements: cProfile stats to FILE.<db>")
    parser.add_argument(
        "--conversation", action="store_true", help="statements: turns in a conversation"
    )
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    args.limit_proxy = args.limit_proxy.resolve()
    args.turns = args.turns or (50 if args.what == "statements" else 20)
    bench_procs.START_TIMEOUT = 600.0  # a server under valgrind starts slowly
    with bench_procs.fake_model() as model_url:
        for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
            (statements if args.what == "statements" else cpu)(db, args, model_url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
