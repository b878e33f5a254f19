"""Only a bug stops the background machinery, loudly: logged with its traceback, readiness and
liveness 503 in the API, exit status 1 for ``sleeptime worker``."""

import asyncio
import logging
from typing import Any

import pytest

from app import commands
from app.config import Settings
from app.runs import lifecycle
from tests.helpers import ok
from tests.sleeptime.test_sleeptime_runs import AppMaker


async def _reaper_bug(*_args: Any) -> None:
    raise RuntimeError("a bug in the reaper")


async def test_a_bug_stops_the_dispatcher_and_the_api_says_so(
    make_app: AppMaker, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # The bug is met on the reaper's next pass: a short period, so it comes soon.
    app, client = await make_app(reaper_seconds=0.2)
    logging.getLogger().addHandler(caplog.handler)  # the app replaced the root's handlers
    ready = await ok(client.get("/readyz"))
    assert ready["status"] == "ok" and {"claim", "heartbeat", "reaper"} <= set(ready["executors"])
    monkeypatch.setattr(lifecycle, "forget_streams", _reaper_bug)
    vitals = app.state.runtime.vitals
    await asyncio.wait_for(vitals.broken.wait(), 30)
    await asyncio.wait_for(app.state.runtime.dispatcher.done.wait(), 30)
    bug = "reaper stopped on a bug: RuntimeError: a bug in the reaper"
    for path in ("/readyz", "/livez"):
        response = await client.get(path)
        assert response.status_code == 503, response.text
        assert bug in str(response.json())
    ready = (await client.get("/readyz")).json()
    assert ready["executors"]["reaper"] == "stopped: RuntimeError: a bug in the reaper"
    assert ready["executors"]["claim"] == ready["executors"]["heartbeat"] == "stopped"
    [crash] = [
        r
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg["event"] == "worker.loop_crashed"
    ]
    assert crash.exc_info is not None and crash.levelno == logging.ERROR


async def test_a_bug_makes_the_worker_exit_non_zero(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(lifecycle, "forget_streams", _reaper_bug)
    assert await asyncio.wait_for(commands._work(settings), 60) == 1
