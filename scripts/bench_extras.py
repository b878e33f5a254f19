"""Service-only measurements that have no counterpart in the limit proxy: how soon a
sleeptime run starts, how long a dead worker's run takes to be reclaimed, token-delta travel
time and the memory that many open streams cost."""

import argparse
import asyncio
import json
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

import asyncpg
import bench_load
import bench_procs
import httpx
from bench_report import out, pct


async def _sleeptime_primary(client: httpx.AsyncClient) -> str:
    body = {"model": bench_load.MODEL, "enable_sleeptime": True}
    agent = (await client.post("/v1/agents/", json=body)).json()
    group = agent["managed_group"]["id"]
    config = {"manager_type": "sleeptime", "sleeptime_agent_frequency": 1}
    await client.patch(f"/v1/groups/{group}", json={"manager_config": config})
    return str(agent["id"])


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


async def sleeptime_start(url: str, turns: int) -> None:
    """Time from a turn's end to its sleeptime run's start, each with an idle queue."""
    async with bench_load.client(url) as client:
        agent = await _sleeptime_primary(client)
        delays = []
        for i in range(turns):
            body = {"input": f"hi {i}"}
            sent = (await client.post(f"/v1/agents/{agent}/messages", json=body)).json()
            parent = (await client.get(f"/v1/runs/{sent['messages'][0]['run_id']}")).json()
            [run_id] = sent["usage"]["run_ids"]
            run = (await client.get(f"/v1/runs/{run_id}", params={"wait": 30})).json()
            delays.append((_ts(run["started_at"]) - _ts(parent["completed_at"])) * 1000)
    out(
        f"  sleeptime run start after its turn ({len(delays)} runs): p50 {pct(delays, 0.5):.2f}"
        f" ms  p95 {pct(delays, 0.95):.2f} ms  max {max(delays):.2f} ms"
    )


async def _reclaim(
    base: str, url: str, workers: dict[int, subprocess.Popen[str]], lease: float, delay: float
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
        out(
            f"  reclaim after kill -9 (lease {lease:g} s): run {run['status']} after "
            f"{run['attempts']} attempts; re-claimed {took - delay:.2f} s after the kill"
        )


def reclaim(args: argparse.Namespace) -> None:
    out("== postgresql: dead worker")
    lease, delay = 5.0, 1.0
    extra = {"SLEEPTIME_LEASE_SECONDS": str(lease), "SLEEPTIME_REAPER_SECONDS": "1"}
    with (
        bench_procs.pg_database(args.postgres) as url,
        bench_procs.fake_model(FAKE_SLEEPTIME_DELAY=str(delay)) as model_url,
        bench_procs.service(url, model_url, SLEEPTIME_DISPATCHER="false", **extra) as srv,
        bench_procs.worker(url, model_url, **extra) as one,
        bench_procs.worker(url, model_url, **extra) as two,
    ):
        asyncio.run(_reclaim(srv.url, url, {one.pid: one, two.pid: two}, lease, delay))


async def _travel(client: httpx.AsyncClient, agent: str, count: int) -> list[float]:
    """Each token delta's travel time from the model to this client (the fake model stamps
    every delta with its send time)."""
    travel = []
    for i in range(count):
        body = {"input": f"hi {i}", "stream_tokens": True}
        async with client.stream("POST", f"/v1/agents/{agent}/messages/stream", json=body) as r:
            async for line in r.aiter_lines():
                if '"message_type":"assistant_message"' in line:
                    sent = float(json.loads(line[5:])["content"].rstrip("|"))
                    travel.append((time.time() - sent) * 1000)
    return travel


async def _stream_latency(base: str, turns: int) -> None:
    async with bench_load.client(base) as client:
        agent = await bench_load.agent(client)
        await _travel(client, agent, 5)  # warm up
        t = await _travel(client, agent, turns)
    out(
        f"  token delta model -> client ({len(t)} deltas): p50 {pct(t, 0.5):.2f} ms  "
        f"p95 {pct(t, 0.95):.2f} ms  max {max(t):.2f} ms"
    )


async def _open_streams(base: str, pid: int, count: int) -> None:
    async with bench_load.client(base, count + 10) as client:
        agents = [await bench_load.agent(client) for _ in range(count)]
        before = bench_procs.rss_mib(pid)
        opened = asyncio.Event()
        ready = 0

        async def one(agent: str) -> None:
            nonlocal ready
            url = f"/v1/agents/{agent}/messages/stream"
            async with client.stream("POST", url, json={"input": "hold"}) as r:
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
        during = bench_procs.rss_mib(pid)
        await asyncio.gather(*tasks)
    out(
        f"  {count} concurrent open streams: service memory {before:.0f} MiB -> "
        f"{during:.0f} MiB (+{during - before:.0f} MiB)"
    )


def streams(args: argparse.Namespace) -> None:
    """Token-delta travel time, and the memory ``args.streams`` open streams cost."""
    db = args.db if args.db != "both" else "postgresql"
    out(f"== {db}: streaming")
    with (
        tempfile.TemporaryDirectory() as tmp,
        bench_procs.fresh_database(db, args.postgres, Path(tmp), "streams") as url,
    ):
        extra = {"FAKE_STREAM_CHUNKS": "20", "FAKE_STREAM_GAP": "0.005"}
        with bench_procs.fake_model(**extra) as model_url, bench_procs.service(url, model_url) as s:
            asyncio.run(_stream_latency(s.url, args.streams_turns))
        with (
            bench_procs.fake_model(FAKE_HOLD_SECONDS="15") as model_url,
            bench_procs.service(url, model_url) as srv,
        ):
            asyncio.run(_open_streams(srv.url, srv.pid, args.streams))
