"""The load driver: the same requests, the same way, against the service and the limit proxy.

A turn is ``POST /v1/agents/{id}/messages`` with ``{"messages": [{"role": "user", ...}]}``
(the body both servers accept) and succeeds when it answers 200 with ``end_turn``.
"""

import asyncio
import time
from dataclasses import dataclass, field

import httpx

MODEL = "openai/bench"
AGENT = {"model": MODEL, "memory_blocks": [{"label": "human", "value": "Name: Ana"}]}


class TurnFailed(RuntimeError):
    pass


@dataclass
class Load:
    """What a concurrent run produced: per-turn latencies (s), errors, elapsed wall time."""

    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    elapsed: float = 0.0

    def add(self, other: "Load") -> None:
        self.latencies += other.latencies
        self.errors += other.errors
        self.elapsed += other.elapsed

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.elapsed if self.elapsed else 0.0


def client(url: str, connections: int = 64) -> httpx.AsyncClient:
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=url, timeout=60, limits=limits)


async def agent(http: httpx.AsyncClient) -> str:
    response = await http.post("/v1/agents/", json=AGENT)
    response.raise_for_status()
    agent_id: str = response.json()["id"]
    return agent_id


def _body(text: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": text}]}


async def turn(http: httpx.AsyncClient, agent_id: str, text: str) -> float:
    """One turn; its latency in seconds."""
    started = time.perf_counter()
    response = await http.post(f"/v1/agents/{agent_id}/messages", json=_body(text))
    elapsed = time.perf_counter() - started
    if response.status_code != 200 or response.json()["stop_reason"]["stop_reason"] != "end_turn":
        raise TurnFailed(f"turn failed: {response.status_code} {response.text[:200]}")
    return elapsed


async def sequential(http: httpx.AsyncClient, agent_id: str, turns: int) -> list[float]:
    return [await turn(http, agent_id, f"hello {i}") for i in range(turns)]


async def concurrent(http: httpx.AsyncClient, agents: list[str], seconds: float) -> Load:
    """Each agent has one client sending turns back to back for ``seconds``."""
    load = Load()
    deadline = time.perf_counter() + seconds

    async def one(agent_id: str) -> None:
        while time.perf_counter() < deadline:
            try:
                load.latencies.append(await turn(http, agent_id, "hi"))
            except (TurnFailed, httpx.HTTPError):
                load.errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(one(a) for a in agents))
    load.elapsed = time.perf_counter() - started
    return load


async def first_bytes(http: httpx.AsyncClient, agent_id: str, count: int) -> list[float]:
    """Streamed turns: seconds from sending the request to the first byte of the body."""
    first = []
    for i in range(count):
        started = time.perf_counter()
        url = f"/v1/agents/{agent_id}/messages/stream"
        async with http.stream("POST", url, json=_body(f"hi {i}")) as response:
            response.raise_for_status()
            chunks = response.aiter_raw()
            async for _ in chunks:
                first.append(time.perf_counter() - started)
                break
            async for _ in chunks:
                pass
    return first
