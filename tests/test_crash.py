"""kill -9 during a sleeptime run and during a turn, then recovery by another process."""

import asyncio
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

import httpx
from sqlalchemy import select

from app.blocks.models import BlockHistory
from app.groups.models import GroupAgent
from app.kit.db import Database
from app.messages.models import Message
from tests.conftest import BACKEND, MODEL, DatabaseFactory
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.processes import Process, server_env

LEASE = 2.0
REAPER = 0.5


def _env(database_url: str, fake_llm: FakeLLMServer, **extra: str) -> dict[str, str]:
    settings = {
        "SLEEPTIME_LOG_LEVEL": "INFO",
        "SLEEPTIME_LEASE_SECONDS": str(LEASE),
        "SLEEPTIME_REAPER_SECONDS": str(REAPER),
        "SLEEPTIME_POLL_SECONDS": "0.2",
        "SLEEPTIME_PROVIDER_MAX_RETRIES": "0",
    }
    return server_env(database_url, fake_llm.base_url, **{**settings, **extra})


@contextmanager
def cluster(env: dict[str, str]) -> Iterator[tuple[ExitStack, Process, str, Process | None]]:
    """SQLite: one API process running the dispatcher. PostgreSQL: an API process without a
    dispatcher plus a worker, the shape that lets workers die independently."""
    with ExitStack() as stack:
        if BACKEND == "sqlite":
            api, url = Process.serve(env)
            stack.callback(api.stop)
            yield stack, api, url, None
            return
        api, url = Process.serve({**env, "SLEEPTIME_DISPATCHER": "false"})
        stack.callback(api.stop)
        worker = Process.worker(env)
        stack.callback(worker.stop)
        yield stack, api, url, worker


async def _primary(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.post(
        "/v1/agents/",
        json={
            "name": "crash",
            "model": MODEL,
            "enable_sleeptime": True,
            "memory_blocks": [{"label": "human", "value": "Ana"}],
        },
    )
    agent = response.json()
    group = agent["managed_group"]
    await client.patch(
        f"/v1/groups/{group['id']}",
        json={"manager_config": {"manager_type": "sleeptime", "sleeptime_agent_frequency": 1}},
    )
    return agent  # type: ignore[no-any-return]


async def test_kill_during_a_sleeptime_run(
    database_factory: DatabaseFactory, fake_llm: FakeLLMServer
) -> None:
    url = await database_factory.create()
    env = _env(url, fake_llm)
    stuck = threading.Event()
    fake_llm.state.add(
        Reply(text="Hello Ana"),
        Reply(tool_calls=[("memory_rethink", {"label": "human", "new_memory": "PARTIAL"})]),
        Reply(tool_calls=[("memory_finish_edits", {})], hold=stuck),
    )
    with cluster(env) as (stack, api, base, worker):
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            agent = await _primary(client)
            turn = (
                await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hi"})
            ).json()
            [run_id] = turn["usage"]["run_ids"]
            await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 3)
            fake_llm.state.add(
                Reply(
                    tool_calls=[
                        ("memory_rethink", {"label": "human", "new_memory": "Ana, says hi"})
                    ]
                ),
                Reply(tool_calls=[("memory_finish_edits", {})]),
            )
            (worker or api).kill()
            stuck.set()
            if worker is None:  # SQLite: the restarted server resets the dead run at start
                restarted, base_url = Process.serve(env)
                stack.callback(restarted.stop)
            else:  # PostgreSQL: another worker reclaims the expired lease
                stack.enter_context(_stopping(Process.worker(env)))
                base_url = base
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            # The run recovers on its own: the longest wait the route allows bounds it, not a
            # stopwatch (a restart on a loaded machine takes seconds of its own).
            answer = await client.get(f"/v1/runs/{run_id}", params={"wait": 60})
            assert answer.status_code == 200, answer.text
            run = answer.json()
            assert (run["status"], run["attempts"]) == ("completed", 2), run
            block = (await client.get(f"/v1/agents/{agent['id']}/core-memory/blocks/human")).json()
            assert block["value"] == "Ana, says hi"
    own = Database(url)
    try:
        await _check_no_partial_edit(own, block["id"], agent)
    finally:
        await own.dispose()


async def _check_no_partial_edit(db: Database, block_id: str, agent: dict[str, Any]) -> None:
    async with db.session(write=False) as session:
        history = (
            await session.scalars(
                select(BlockHistory.value)
                .where(BlockHistory.block_id == block_id)
                .order_by(BlockHistory.version)
            )
        ).all()
        assert history == ["Ana", "Ana, says hi"]  # the killed attempt left nothing
        helper = agent["managed_group"]["agent_ids"][0]
        watermark = await session.scalar(
            select(GroupAgent.processed_through_seq).where(GroupAgent.agent_id == helper)
        )
        # the boot sequence (3), the user message and the reply, covered once
        assert watermark == 3 + 2
        transcripts = await session.scalars(
            select(Message.run_id).where(Message.agent_id == helper, Message.role == "user")
        )
        assert len(transcripts.all()) == 1  # the killed attempt's went with it


async def test_kill_during_a_turn(
    database_factory: DatabaseFactory, fake_llm: FakeLLMServer
) -> None:
    url = await database_factory.create()
    env = _env(url, fake_llm)
    stuck = threading.Event()
    fake_llm.state.add(Reply(text="never", hold=stuck))
    with cluster(env) as (stack, api, base, _worker):
        async with httpx.AsyncClient(base_url=base, timeout=60) as client:
            created = await client.post("/v1/agents/", json={"model": MODEL})
            agent = created.json()
            turn = asyncio.create_task(
                client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hi"})
            )
            await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 1)
            [run] = (await client.get("/v1/runs/", params={"active": "true"})).json()
            api.kill()
            stuck.set()
            with suppress(httpx.HTTPError):
                await turn
        replacement, base_url = Process.serve(env)  # a replacement API process
        stack.callback(replacement.stop)
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            ended = (await client.get(f"/v1/runs/{run['id']}", params={"wait": 30})).json()
            assert ended["status"] == "failed"
            assert ended["error"]["type"] == "process_died"
            after = await client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "again"})
            assert after.json()["stop_reason"]["stop_reason"] == "end_turn"


@contextmanager
def _stopping(process: Process) -> Iterator[Process]:
    try:
        yield process
    finally:
        process.stop()
