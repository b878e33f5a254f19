"""With ``SLEEPTIME_COMPACTION_TRIGGERS_SLEEPTIME``, a turn that compacted its window runs
the sleeptime agents whatever their frequency, so they read what is leaving the window."""

import asyncio
from typing import Any

from tests.fakes.llm_server import FakeLLMServer
from tests.helpers import create_agent, ok

AppMaker = Any


async def test_a_compacting_turn_runs_the_sleeptime_agents(
    make_app: AppMaker, summarizing: FakeLLMServer
) -> None:
    app, client = await make_app(compaction_triggers_sleeptime=True)
    primary = await create_agent(
        client, enable_sleeptime=True, context_window_limit=6000, max_tokens=100
    )
    group = primary["managed_group"]
    config = {"manager_type": "sleeptime", "sleeptime_agent_frequency": 100}
    await ok(client.patch(f"/v1/groups/{group['id']}", json={"manager_config": config}))
    triggered, compacted = [], []
    for turn in range(1, 13):
        answer = await ok(
            client.post(
                f"/v1/agents/{primary['id']}/messages",
                json={"input": f"message {turn}: " + "x" * 2000},
            )
        )
        run = await ok(client.get(f"/v1/runs/{answer['messages'][0]['run_id']}"))
        if "compaction" in (run["metadata"] or {}):
            compacted.append(turn)
        if answer["usage"]["run_ids"]:
            triggered.append(turn)
        await asyncio.wait_for(app.state.runtime.dispatcher.settled(), 30)
    assert compacted, "the window never compacted"
    assert triggered == [1, *[t for t in compacted if t != 1]]  # turn 1 by the frequency
