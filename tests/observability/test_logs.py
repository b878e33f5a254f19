"""The lifecycle of runs in the logs: accepted, claimed, step, finished, reaped, retried and
cancelled, each line with the run's ``run_id``, ``agent_id`` and ``kind``."""

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from app.kit.db import Database
from app.kit.ids import Prefix, new_id
from app.runs import lifecycle
from tests.fakes.llm_server import FakeLLMServer
from tests.helpers import create_agent, ok
from tests.observability.helpers import insert_run, lapsed
from tests.sleeptime.test_sleeptime_runs import AppMaker, _world


class Lines:
    """The structured lines logged (at DEBUG for runs) once ``listen`` was called: after
    the app is built, as building it replaces the root logger's handlers."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog

    def listen(self) -> None:
        logging.getLogger().addHandler(self.caplog.handler)
        for name in ("app.runs", "app.worker", "app.http"):
            self.caplog.set_level(logging.DEBUG, logger=name)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        records = self.caplog.records
        return iter([r.msg for r in records if isinstance(r.msg, dict)])


@pytest.fixture
def lines(caplog: pytest.LogCaptureFixture) -> Iterator[Lines]:
    collected = Lines(caplog)
    yield collected
    logging.getLogger().removeHandler(caplog.handler)


def _of(lines: Lines, event: str, run_id: str) -> list[dict[str, Any]]:
    return [line for line in lines if line["event"] == event and line.get("run_id") == run_id]


async def test_a_turn_and_its_sleeptime_run_log_their_lifecycle(
    make_app: AppMaker, fake_llm: FakeLLMServer, lines: Lines
) -> None:
    app, client, primary, helper = await _world(make_app, 1)
    lines.listen()
    turn = await ok(client.post(f"/v1/agents/{primary['id']}/messages", json={"input": "hi"}))
    await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)
    run_id = turn["usage"]["run_ids"][0]
    foreground = next(
        line["run_id"]
        for line in lines
        if line["event"] == "run.accepted" and line["kind"] == "foreground"
    )
    bound = {"agent_id": primary["id"], "kind": "foreground"}
    for event in ("run.accepted", "run.step", "run.finished"):
        [line] = _of(lines, event, foreground)
        assert bound.items() <= line.items(), line
    [finished] = _of(lines, "run.finished", foreground)
    assert (finished["status"], finished["stop_reason"]) == ("completed", "end_turn")
    assert finished["duration_ms"] > 0
    # The request's own line names the turn it ran.
    [request] = [
        line for line in _of(lines, "http.request", foreground) if line["method"] == "POST"
    ]
    assert bound.items() <= request.items() and request["status"] == 200

    sleeptime = {"agent_id": helper, "kind": "sleeptime"}
    [accepted] = _of(lines, "run.accepted", run_id)
    assert accepted["parent_run_id"] == foreground and sleeptime.items() <= accepted.items()
    [claimed] = _of(lines, "run.claimed", run_id)
    assert claimed["attempt"] == 1 and sleeptime.items() <= claimed.items()
    # Lines logged while the dispatcher executes the run carry its fields, bound.
    assert _of(lines, "run.step", run_id)
    assert all(sleeptime.items() <= line.items() for line in _of(lines, "run.step", run_id))
    [done] = _of(lines, "run.finished", run_id)
    assert sleeptime.items() <= done.items() and done["status"] == "completed"


async def test_cancelled_reaped_and_retried_runs_are_logged(
    make_app: AppMaker, lines: Lines
) -> None:
    app, client = await make_app(dispatcher=False)
    lines.listen()
    db: Database = app.state.db
    agent, other = await create_agent(client, name="a"), await create_agent(client, name="b")
    queued = await ok(
        client.post(f"/v1/agents/{agent['id']}/messages/async", json={"input": "later"})
    )
    [accepted] = _of(lines, "run.accepted", queued["id"])
    assert (accepted["agent_id"], accepted["kind"]) == (agent["id"], "async")
    await ok(client.post(f"/v1/runs/{queued['id']}/cancel"))
    [cancelled] = _of(lines, "run.cancelled", queued["id"])
    assert (cancelled["agent_id"], cancelled["kind"], cancelled["requested"]) == (
        agent["id"],
        "async",
        False,
    )

    dead, again = new_id(Prefix.run), new_id(Prefix.run)
    await insert_run(db, agent["id"], id=dead, kind="foreground", **lapsed(60))
    await insert_run(db, other["id"], id=again, **lapsed(60))
    async with db.session() as session:
        await lifecycle.reap(session, max_attempts=3)
    [failed] = _of(lines, "run.reaped", dead)
    assert (failed["outcome"], failed["kind"], failed["agent_id"]) == (
        "failed",
        "foreground",
        agent["id"],
    )
    assert failed["lease_owner"] == "gone:1:dead"
    [retried] = _of(lines, "run.reaped", again)
    assert (retried["outcome"], retried["kind"], retried["attempts"]) == ("retried", "async", 1)


async def test_a_run_whose_code_fails_is_retried_then_failed(
    make_app: AppMaker, lines: Lines
) -> None:
    app, client = await make_app(max_attempts=2, reaper_seconds=0.05)
    lines.listen()
    agent = await create_agent(client)
    broken = {"messages": 5}  # no request the executor can read: its code fails
    run_id = await insert_run(app.state.db, agent["id"], request=broken)
    app.state.control.wakeup.wake()
    run = await ok(client.get(f"/v1/runs/{run_id}", params={"wait": 30}))
    assert run["status"] == "failed"
    bound = {"agent_id": agent["id"], "kind": "async"}
    claims = _of(lines, "run.claimed", run_id)
    assert [c["attempt"] for c in claims] == [1, 2]
    retries = _of(lines, "run.retried", run_id)
    assert len(retries) == 2 and all(bound.items() <= r.items() for r in retries)
    assert "ValidationError" in retries[0]["reason"]
    assert [r["outcome"] for r in _of(lines, "run.reaped", run_id)] == ["retried", "failed"]
