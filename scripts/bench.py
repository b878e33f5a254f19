"""Turn-overhead benchmark: the service side by side with the physical limit of a turn.

    uv run python scripts/bench.py [--quick] [--db sqlite|postgresql|both]
                                   [--limit-proxy ../shared/bench/limit_proxy.py]

For each database it starts the instant fake model (scripts/fake_openai.py), the limit proxy
(``limit_proxy.py``: the smallest honest implementation of the same turn) and ``sleeptime
serve``, each on a fresh database of that kind, and drives both with the same load driver:
sequential turns on one agent, 32 clients each on its own agent, a 1,000-turn history on one
agent, streamed turns (service only: time to the first byte). Then it restarts each server
several times for its startup time and its idle memory. Rounds alternate between the two
servers (limit, service, service, limit, ...) so drift on a shared machine hits both alike.

It prints a table per database and one line per target with the service's figure as a ratio
to the limit's: absolute times on shared machines drift by half from hour to hour, ratios
measured side by side do not. ``--reclaim`` and ``--streams N`` add the service-only
measurements of ``bench_extras``.
"""

import argparse
import asyncio
import math
import sys
import tempfile
from collections.abc import Coroutine, Iterator
from contextlib import AsyncExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import bench_extras
import bench_load
import bench_procs
import httpx
import uvloop
from bench_report import LIMIT, SERVICE, Side, out, table, targets

DEFAULT_LIMIT = bench_procs.ROOT.parent / "shared" / "bench" / "limit_proxy.py"
WARMUP = 20
T = TypeVar("T")


@dataclass(frozen=True)
class Plan:
    """How much of each measurement one run takes, split into alternating rounds."""

    turns: int
    rounds: int
    clients: int
    seconds: float
    load_rounds: int
    history: int
    chunk: int
    streams: int
    startups: int
    rss_turns: int = 10

    @classmethod
    def of(cls, args: argparse.Namespace) -> "Plan":
        if args.quick:
            return cls(150, 3, args.clients, 6.0, 2, args.history or 600, 100, 30, 2)
        return cls(args.turns, 4, args.clients, args.seconds, 4, args.history or 1000, 100, 100, 5)


def order(round_no: int) -> tuple[str, str]:
    """Which server goes first in a round: alternating, so neither always runs warmer."""
    return (LIMIT, SERVICE) if round_no % 2 == 0 else (SERVICE, LIMIT)


@dataclass
class Pair:
    """The two servers under test and their clients and agents in one run."""

    http: dict[str, httpx.AsyncClient]
    sequential: dict[str, str]
    history: dict[str, str]
    crowd: dict[str, list[str]]


async def _pair(stack: AsyncExitStack, urls: dict[str, str], plan: Plan) -> Pair:
    http = {n: await stack.enter_async_context(bench_load.client(u)) for n, u in urls.items()}
    pair = Pair(http, {}, {}, {})
    for name, client in http.items():
        pair.sequential[name] = await bench_load.agent(client)
        pair.history[name] = await bench_load.agent(client)
        pair.crowd[name] = [await bench_load.agent(client) for _ in range(plan.clients)]
        await bench_load.sequential(client, pair.sequential[name], WARMUP)
        await bench_load.sequential(client, pair.history[name], WARMUP)
    return pair


async def _sequential(pair: Pair, plan: Plan, sides: dict[str, Side]) -> None:
    per_round = math.ceil(plan.turns / plan.rounds)
    for r in range(plan.rounds):
        for name in order(r):
            turns = await bench_load.sequential(pair.http[name], pair.sequential[name], per_round)
            sides[name].sequential += turns


async def _concurrent(pair: Pair, plan: Plan, sides: dict[str, Side]) -> None:
    seconds = plan.seconds / plan.load_rounds
    for r in range(plan.load_rounds):
        for name in order(r):
            load = await bench_load.concurrent(pair.http[name], pair.crowd[name], seconds)
            sides[name].load.add(load)


async def _history(pair: Pair, plan: Plan, sides: dict[str, Side]) -> None:
    for r in range(math.ceil(plan.history / plan.chunk)):
        turns = min(plan.chunk, plan.history - r * plan.chunk)
        for name in order(r):
            latencies = await bench_load.sequential(pair.http[name], pair.history[name], turns)
            sides[name].history += latencies


async def _measure(urls: dict[str, str], plan: Plan) -> dict[str, Side]:
    """Sequential, concurrent and history rounds, alternating servers, then first bytes
    (the limit proxy does not stream)."""
    sides = {name: Side() for name in urls}
    async with AsyncExitStack() as stack:
        pair = await _pair(stack, urls, plan)
        await _sequential(pair, plan, sides)
        await _concurrent(pair, plan, sides)
        await _history(pair, plan, sides)
        client, agent = pair.http[SERVICE], pair.sequential[SERVICE]
        await bench_load.first_bytes(client, agent, 5)  # warm up
        sides[SERVICE].first_byte = await bench_load.first_bytes(client, agent, plan.streams)
    return sides


def _drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run the driver on uvloop: less of the shared CPU goes to the driver itself."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


async def _settle(url: str, turns: int) -> None:
    """A few turns on a new agent, so idle memory includes what serving turns loads."""
    async with bench_load.client(url) as client:
        await bench_load.sequential(client, await bench_load.agent(client), turns)


@contextmanager
def _running(
    name: str, args: argparse.Namespace, db_url: str, model_url: str
) -> Iterator[bench_procs.Server]:
    if name == LIMIT:
        with bench_procs.limit_proxy(args.limit_proxy, db_url, model_url) as srv:
            yield srv
    else:
        with bench_procs.service(db_url, model_url) as srv:
            yield srv


def _startups(args: argparse.Namespace, plan: Plan, dbs: dict[str, str], model_url: str,
              sides: dict[str, Side]) -> None:  # fmt: skip
    """Restart each server on its (migrated, populated) database: time to the first
    answered health check, then resident memory once idle after a few turns."""
    for r in range(plan.startups):
        for name in order(r):
            with _running(name, args, dbs[name], model_url) as srv:
                sides[name].startup.append(srv.startup)
                _drive(_settle(srv.url, plan.rss_turns))
                sides[name].rss.append(bench_procs.rss_mib(srv.pid))


def run_database(db: str, args: argparse.Namespace, plan: Plan, model_url: str) -> None:
    out(f"== {db}")
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_procs.fresh_database(db, args.postgres, Path(tmp), "limit") as limit_url,
        bench_procs.fresh_database(db, args.postgres, Path(tmp), "service") as service_url,
    ):
        bench_procs.init_limit(args.limit_proxy, limit_url, model_url)
        dbs = {LIMIT: limit_url, SERVICE: service_url}
        with (
            _running(LIMIT, args, limit_url, model_url) as limit,
            _running(SERVICE, args, service_url, model_url) as service,
        ):
            sides = _drive(_measure({LIMIT: limit.url, SERVICE: service.url}, plan))
            if args.sleeptime:
                _drive(bench_extras.sleeptime_start(service.url, args.sleeptime))
        _startups(args, plan, dbs, model_url, sides)
    table(db, plan.clients, sides)
    targets(db, plan.clients, sides)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a 1-2 minute run")
    parser.add_argument("--db", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--limit-proxy", type=Path, default=DEFAULT_LIMIT)
    parser.add_argument("--turns", type=int, default=400, help="sequential turns")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=20.0, help="concurrent load, each")
    parser.add_argument("--history", type=int, default=0, help="turns on one agent")
    parser.add_argument("--sleeptime", type=int, default=0, help="turns for the start latency")
    parser.add_argument("--reclaim", action="store_true", help="also time a dead worker's run")
    parser.add_argument("--streams", type=int, default=0, help="also open this many streams")
    parser.add_argument("--streams-turns", type=int, default=100)
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/postgres")
    return parser


def main() -> int:
    args = _parser().parse_args()
    args.limit_proxy = args.limit_proxy.resolve()
    if not args.limit_proxy.is_file():
        sys.stderr.write(
            f"limit proxy not found at {args.limit_proxy}; pass --limit-proxy PATH "
            "(the yardstick lives in the shared bench directory, next to the repository)\n"
        )
        return 2
    plan = Plan.of(args)
    with bench_procs.fake_model() as model_url:
        for db in ("sqlite", "postgresql") if args.db == "both" else (args.db,):
            run_database(db, args, plan, model_url)
    if args.reclaim:
        bench_extras.reclaim(args)
    if args.streams:
        bench_extras.streams(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
