"""Following a run from the stored events, as a replica that did not run it does."""

from typing import Any

import httpx
import pytest

from app.kit.ids import DEFAULT_ORG_ID
from app.runs.control import RunControl
from app.streaming.follow import Follower, RunKey
from app.streaming.hub import Hub
from tests.conftest import MODEL
from tests.fakes.llm_server import FakeLLMServer, Reply


def _follower(app: Any) -> Follower:
    """A follower with a hub of its own: the run is not live in its process."""
    return Follower(app.state.runtime.db, Hub(), RunControl(), idle_seconds=5, retention_seconds=60)


async def test_a_run_that_ends_between_two_reads_keeps_its_last_events(
    make_app: Any, fake_llm: FakeLLMServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    app, client = await make_app()
    http: httpx.AsyncClient = client
    agent_id = (await http.post("/v1/agents/", json={"model": MODEL})).json()["id"]
    fake_llm.state.add(Reply(text="the last words"))
    done = (await http.post(f"/v1/agents/{agent_id}/messages", json={"input": "hi"})).json()
    run_id = done["messages"][0]["run_id"]
    follower = _follower(app)
    # The first read of the stored events comes before the run's last transaction commits;
    # the run is seen ended right after.
    kept = follower._kept
    calls = 0

    async def late(run: RunKey, cursor: int) -> list[tuple[int, str]]:
        nonlocal calls
        calls += 1
        return [] if calls == 1 else await kept(run, cursor)

    monkeypatch.setattr(follower, "_kept", late)
    texts = [text async for _, text in follower.events(DEFAULT_ORG_ID, run_id, 0)]
    assert any('"assistant_message"' in text and "the last words" in text for text in texts)
    assert any('"usage_statistics"' in text for text in texts)
    assert texts[-1] == "[DONE]"
