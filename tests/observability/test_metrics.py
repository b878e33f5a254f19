"""Every series of ``/metrics`` moves under a small load (the app in-process, a fake model),
and a scrape costs the same few index-backed statements however many runs there are."""

import asyncio

from app.kit.db import Database, utcnow
from app.kit.ids import DEFAULT_ORG_ID, Prefix, new_id
from app.runs.models import Run
from tests.conftest import BACKEND
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.helpers import create_agent, ok
from tests.observability.helpers import (
    Statements,
    assert_runs_read_by_partial_indexes,
    backdate,
    insert_run,
    kind_rules,
    lapsed,
    moved,
    scrape,
    value,
)
from tests.sleeptime.test_sleeptime_runs import AppMaker, _world

FAST = {"metrics_refresh_seconds": 0.0}


async def test_series_move_under_load(make_app: AppMaker, fake_llm: FakeLLMServer) -> None:
    # No dispatcher: the sleeptime runs the turns queue wait, and the agent falls behind.
    app, client, primary, _helper = await _world(make_app, 1, dispatcher=False, **FAST)
    before = await scrape(client)
    turns = [
        await ok(client.post(f"/v1/agents/{primary['id']}/messages", json={"input": f"turn {i}"}))
        for i in range(3)
    ]
    fake_llm.state.add(Reply(status=400))
    refused = await client.post(f"/v1/agents/{primary['id']}/messages", json={"input": "no"})
    assert refused.status_code == 400, refused.text
    after = await scrape(client)

    assert (
        moved(before, after, "sleeptime_provider_requests_total", provider="openai", outcome="ok")
        == 3
    )
    bad = {"provider": "openai", "outcome": "llm_bad_request"}
    assert moved(before, after, "sleeptime_provider_requests_total", **bad) == 1
    assert moved(before, after, "sleeptime_provider_request_seconds_count", provider="openai") == 4
    # The fake model reports 11 prompt and 7 completion tokens per answer.
    assert moved(before, after, "sleeptime_tokens_total", kind="prompt") == 33
    assert moved(before, after, "sleeptime_tokens_total", kind="completion") == 21
    route = {"method": "POST", "route": "/v1/agents/{agent_id}/messages", "status": "200"}
    assert moved(before, after, "sleeptime_http_requests_total", **route) == 3

    # One sleeptime run waits (each turn joined it); nothing runs; four turns unread.
    [queued] = {run_id for turn in turns for run_id in turn["usage"]["run_ids"]}
    assert value(after, "sleeptime_runs", kind="sleeptime", status="created") == 1
    assert value(after, "sleeptime_runs", kind="async", status="created") == 0
    assert value(after, "sleeptime_runs", kind="foreground", status="running") == 0
    assert value(after, "sleeptime_sleeptime_lag_turns") == 4
    assert 0 <= value(after, "sleeptime_run_oldest_queued_seconds") < 120

    db: Database = app.state.db
    await backdate(db, queued, 600)
    assert value(await scrape(client), "sleeptime_run_oldest_queued_seconds") >= 600
    async with db.engine.connect():
        assert value(await scrape(client), "sleeptime_db_pool_in_use") >= 1

    # A process that dispatches catches up: the queue empties, the lag is gone.
    worker, worker_client = await make_app(**FAST)
    await asyncio.wait_for(worker.state.runtime.dispatcher.settled(), 30)
    caught_up = await scrape(worker_client)
    assert value(caught_up, "sleeptime_runs", kind="sleeptime", status="created") == 0
    assert value(caught_up, "sleeptime_run_oldest_queued_seconds") == 0
    # The refused turn queued no sleeptime run: the next turn's run reads it.
    assert value(caught_up, "sleeptime_sleeptime_lag_turns") == 1
    await ok(worker_client.post(f"/v1/agents/{primary['id']}/messages", json={"input": "more"}))
    await asyncio.wait_for(worker.state.runtime.dispatcher.settled(), 30)
    assert value(await scrape(worker_client), "sleeptime_sleeptime_lag_turns") == 0
    ok_calls = {"provider": "openai", "outcome": "ok"}
    assert moved(after, caught_up, "sleeptime_provider_requests_total", **ok_calls) >= 1


async def test_reaped_runs_are_counted(make_app: AppMaker) -> None:
    app, client = await make_app(reaper_seconds=0.05, **FAST)
    agent = await create_agent(client)
    before = await scrape(client)
    dead_turn, cancelled = new_id(Prefix.run), new_id(Prefix.run)
    settled = [app.state.control.watch(run_id) for run_id in (dead_turn, cancelled)]
    await insert_run(app.state.db, agent["id"], id=dead_turn, kind="foreground", **lapsed(60))
    other = await create_agent(client)
    gone = {**lapsed(60), "cancel_requested": True}
    await insert_run(app.state.db, other["id"], id=cancelled, kind="async", **gone)
    await asyncio.wait_for(asyncio.gather(*(e.wait() for e in settled)), 30)
    after = await scrape(client)
    reaped = "sleeptime_runs_reaped_total"
    assert moved(before, after, reaped, kind="foreground", outcome="failed") == 1
    assert moved(before, after, reaped, kind="async", outcome="cancelled") == 1


async def _ended_runs(db: Database, agent_id: str, count: int) -> None:
    now = utcnow()
    rows = [
        {
            "id": new_id(Prefix.run),
            "organization_id": DEFAULT_ORG_ID,
            "agent_id": agent_id,
            "kind": kind,
            "status": "completed",
            "background": False,
            "attempts": 1,
            "cancel_requested": False,
            "created_at": now,
            "updated_at": now,
            **kind_rules(kind),
        }
        for i in range(count)
        for kind in (("foreground", "sleeptime", "async")[i % 3],)
    ]
    async with db.session() as session:
        await session.execute(Run.__table__.insert(), rows)


async def test_a_scrape_costs_the_same_with_many_runs(make_app: AppMaker) -> None:
    app, client = await make_app(dispatcher=False, **FAST)
    db: Database = app.state.db
    agents = [await create_agent(client, name=f"a{i}") for i in range(3)]
    for agent in agents:
        await insert_run(db, agent["id"])
    counts = []
    for _ in range(2):
        await _ended_runs(db, agents[0]["id"], 1500)
        with Statements(db) as statements:
            await app.state.runtime.scraper.refresh()
        counts.append(len(statements.seen))
        series = await scrape(client)
        assert value(series, "sleeptime_runs", kind="async", status="created") == 3
    assert counts[0] == counts[1] == 2, counts
    if BACKEND == "sqlite":
        [runs] = [seen for seen in statements.seen if "FROM runs" in seen[0]]
        await assert_runs_read_by_partial_indexes(db, runs)


async def test_each_attempt_of_a_retried_call_is_counted(
    make_app: AppMaker, fake_llm: FakeLLMServer
) -> None:
    _app, client = await make_app(dispatcher=False, **FAST)
    agent = await create_agent(client)
    before = await scrape(client)
    fake_llm.state.add(Reply(status=500), Reply(text="after a retry"))
    await ok(client.post(f"/v1/agents/{agent['id']}/messages", json={"input": "hi"}))
    after = await scrape(client)
    calls = "sleeptime_provider_requests_total"
    assert moved(before, after, calls, provider="openai", outcome="llm_error") == 1
    assert moved(before, after, calls, provider="openai", outcome="ok") == 1
    assert moved(before, after, "sleeptime_provider_request_seconds_count", provider="openai") == 2
    assert moved(before, after, "sleeptime_tokens_total", kind="completion") == 7
