"""A step the database refuses to store leaves nothing behind, and its stream does not
claim otherwise: the events its transaction would have written (the stored reply, an
``end_turn``) are never sent, the run ends ``error``, and the kept stream is the one the
client saw."""

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import event

from tests.conftest import AppAndClient
from tests.fakes.llm_server import FakeLLMServer, Reply
from tests.faults.conftest import STEADY
from tests.faults.turns import (
    assert_agent_free,
    assert_failed_cleanly,
    assert_stream_failed,
    resumed,
    stream_turn,
)
from tests.helpers import create_agent

MARK = "the database refuses this"


def refuse_the_step(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
    # The statement that stores the step's messages (on PostgreSQL it may carry other
    # inserts along, as ``WITH`` clauses: see ``app.kit.batch``).
    if "INSERT INTO messages" in statement and MARK in str(parameters):
        raise RuntimeError("the database refused the step")


@pytest.mark.parametrize("tokens", [True, False])
async def test_a_refused_step_is_not_told_as_stored(
    make_app: Callable[..., Awaitable[AppAndClient]], fake_llm: FakeLLMServer, tokens: bool
) -> None:
    app, client = await make_app(**STEADY)
    agent = await create_agent(client)
    engine = app.state.runtime.db.engine.sync_engine
    fake_llm.state.add(Reply(text=MARK))
    event.listen(engine, "before_cursor_execute", refuse_the_step)
    try:
        events = await stream_turn(client, agent["id"], "hi", stream_tokens=tokens)
    finally:
        event.remove(engine, "before_cursor_execute", refuse_the_step)
    assert_stream_failed(events, "error", "internal_error")
    sent = {e["message_type"] for _, e in events[1:-3]}
    assert sent == ({"assistant_message"} if tokens else set())  # the relayed tokens only
    assert all(e.get("stop_reason") != "end_turn" for _, e in events if isinstance(e, dict))
    run_id = events[0][1]["run_id"]
    await assert_failed_cleanly(client, run_id, "error", "internal_error", "hi", step=None)
    assert await resumed(client, run_id) == events[1:]
    await assert_agent_free(client, fake_llm, agent["id"])
