"""``sleeptime worker``'s probe port: ``/livez``, ``/readyz`` and ``/metrics`` over real
HTTP, not ready while its database is gone, ready again once it is back."""

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy.engine import make_url

from app.config import Settings
from app.runtime import Runtime, runtime
from app.worker import http as worker_http
from tests.conftest import BACKEND, DatabaseFactory, _admin_execute
from tests.fakes.llm_server import FakeLLMServer
from tests.observability.helpers import parse, value
from tests.processes import Process, free_port
from tests.test_crash import _env
from tests.test_outage import _TERMINATE
from tests.worker.faults import ConnectionFault, until


@asynccontextmanager
async def _worker(settings: Settings) -> AsyncIterator[tuple[Runtime, httpx.AsyncClient]]:
    """A worker's runtime and probe port in this process, and a client of the port."""
    async with (
        runtime(settings, dispatch=True, role="worker") as rt,
        worker_http.serving(rt),
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{settings.worker_http_port}") as client,
    ):
        yield rt, client


async def _probes_answer(client: httpx.AsyncClient) -> None:
    live = await client.get("/livez")
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    ready = await client.get("/readyz")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["database"] == "ok" and {"claim", "heartbeat", "reaper"} <= set(body["executors"])
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    series = parse(metrics.text)
    assert value(series, "sleeptime_runs", kind="sleeptime", status="created") == 0
    assert ("sleeptime_db_pool_in_use", frozenset()) in series


async def test_the_probes_and_a_database_gone(settings: Settings) -> None:
    port = free_port()
    every_scrape = {"metrics_refresh_seconds": 0.0}
    configured = settings.model_copy(
        update={"worker_http_port": port, "worker_http_host": "127.0.0.1", **every_scrape}
    )
    async with _worker(configured) as (rt, client):
        await _probes_answer(client)
        with ConnectionFault(rt.db.engine):
            gone = await client.get("/readyz")
            assert gone.status_code == 503, gone.text
            assert gone.json()["reasons"][0].startswith("database unavailable: ")
            assert (await client.get("/livez")).status_code == 200  # a restart mends nothing
            # The process's series are still served; the database ones keep their values.
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert ("sleeptime_runs", frozenset({("kind", "async"), ("status", "created")})) in (
                parse(metrics.text)
            )
        assert (await client.get("/readyz")).status_code == 200


async def test_a_port_in_use_is_one_clear_error(settings: Settings) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        configured = settings.model_copy(
            update={"worker_http_port": port, "worker_http_host": "127.0.0.1"}
        )
        with pytest.raises(worker_http.WorkerHTTPError, match=f"127.0.0.1:{port}.*in use"):
            async with _worker(configured):
                pass


async def test_no_port_no_server(settings: Settings) -> None:
    async with runtime(settings, dispatch=True, role="worker") as rt, worker_http.serving(rt):
        assert rt.settings.worker_http_port is None


@asynccontextmanager
async def _database_gone(url: str) -> AsyncIterator[None]:
    """No connection to the database at ``url`` while the block runs: the open ones are
    terminated, new ones refused."""
    name = make_url(url).database
    await _admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
    try:
        await _admin_execute(_TERMINATE.format(name=name))
        yield
    finally:
        await _admin_execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@pytest.mark.skipif(BACKEND != "postgresql", reason="sleeptime worker runs on PostgreSQL")
async def test_a_worker_process_serves_its_probes(
    database_factory: DatabaseFactory, fake_llm: FakeLLMServer
) -> None:
    port = free_port()
    url = await database_factory.create()
    worker = Process.worker(_env(url, fake_llm, SLEEPTIME_WORKER_HTTP_PORT=str(port)))
    try:
        assert worker.logged("worker.started", f"worker_http_port={port}") == 1
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            await _probes_answer(client)
            async with _database_gone(url):
                gone = await client.get("/readyz")
                assert gone.status_code == 503, gone.text
                assert "database unavailable" in gone.json()["reasons"][0]
                assert (await client.get("/livez")).status_code == 200
            await until(client, "/readyz", lambda r: r.status_code == 200)
        assert worker.process.poll() is None
    finally:
        await asyncio.to_thread(worker.stop)
    assert worker.process.returncode == 0
