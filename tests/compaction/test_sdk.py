"""Compaction and the context routes as the official ``letta-client`` SDK (1.12) calls them."""

from typing import Any

from letta_client import AsyncLetta
from letta_client.types.agents import SummaryMessage

from tests.conftest import MODEL, AppFactory
from tests.fakes.llm_server import FakeLLMServer, Reply


async def test_compact_recompile_and_context_with_the_sdk(
    make_client: AppFactory, summarizing: FakeLLMServer
) -> None:
    http = await make_client()
    sdk = AsyncLetta(base_url="http://testserver", http_client=http, max_retries=0)
    agent = await sdk.agents.create(
        model=MODEL,
        memory_blocks=[{"label": "human", "value": "Ana"}],
        compaction_settings={"mode": "sliding_window", "sliding_window_percentage": 0.4},
    )
    assert agent.compaction_settings is not None
    assert agent.compaction_settings.sliding_window_percentage == 0.4
    for i in range(5):
        await sdk.agents.messages.create(agent.id, input=f"u{i}")
    summarizing.state.summaries.append(Reply(text="Ana greeted five times."))
    done = await sdk.agents.messages.compact(agent.id, compaction_settings={"clip_chars": 1000})
    assert done.summary == "Ana greeted five times."
    assert done.num_messages_after < done.num_messages_before == 11
    listed = [m async for m in sdk.agents.messages.list(agent.id, order="asc", limit=50)]
    summaries = [m for m in listed if isinstance(m, SummaryMessage)]
    assert [s.summary for s in summaries] == ["Ana greeted five times."]

    await sdk.agents.blocks.update("human", agent_id=agent.id, value="Ana, in Lisbon")
    prompt = await sdk.agents.recompile(agent.id)
    assert isinstance(prompt, str) and "Ana, in Lisbon" in prompt

    # 1.12 has no method for the context route; it is read as the SDK reads any path.
    overview: dict[str, Any] = await sdk.get(
        f"/v1/agents/{agent.id}/context", cast_to=dict[str, Any]
    )
    assert overview["summary_memory"].endswith("Ana greeted five times.")
    assert "Ana, in Lisbon" in overview["core_memory"]

    response = await sdk.agents.messages.create(
        agent.id, input="and now?", include_compaction_messages=True
    )
    assert response.stop_reason.stop_reason == "end_turn"
    sent = summarizing.state.chat_requests[-1]["messages"]
    assert sent[1]["content"].endswith("Ana greeted five times.")
