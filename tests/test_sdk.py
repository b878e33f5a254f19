"""The official ``letta-client`` SDK, pointed at the service with ``base_url=``."""

import pytest
from letta_client import AsyncLetta, NotFoundError, UnprocessableEntityError

from tests.conftest import MODEL, AppFactory


@pytest.fixture
async def sdk(make_client: AppFactory) -> AsyncLetta:
    http = await make_client()
    return AsyncLetta(base_url="http://testserver", http_client=http, max_retries=0)


async def test_blocks_agents_sleeptime_and_paging(sdk: AsyncLetta) -> None:
    health = await sdk.health()
    assert health.status == "ok"

    shared = await sdk.blocks.create(label="project", value="Apollo", limit=1000)
    assert shared.id.startswith("block-") and shared.limit == 1000

    agent = await sdk.agents.create(
        name="sdk-agent",
        model=MODEL,
        memory_blocks=[
            {"label": "human", "value": "Name: Ana"},
            {"label": "persona", "value": "kind"},
        ],
        block_ids=[shared.id],
        enable_sleeptime=True,
        tags=["sdk"],
    )
    assert agent.enable_sleeptime is True
    assert agent.managed_group is not None
    assert agent.managed_group.manager_type == "sleeptime"
    assert agent.llm_config.model == "gpt-4o-mini"
    assert {b.label for b in agent.memory.blocks} == {"human", "persona", "project"}

    fetched = await sdk.agents.retrieve(agent.id, include=["agent.managed_group", "agent.blocks"])
    group = fetched.managed_group
    assert group is not None and group.id == agent.managed_group.id
    assert group.sleeptime_agent_frequency == 5 and group.turns_counter == -1
    helper = await sdk.agents.retrieve(group.agent_ids[0])
    assert helper.agent_type == "sleeptime_agent" and helper.name == "sdk-agent-sleeptime"
    assert {b.id for b in agent.blocks} <= {b.id for b in helper.blocks}

    for i in range(4):
        await sdk.agents.create(name=f"extra-{i}", model=MODEL)
    all_agents = [a.id async for a in sdk.agents.list(limit=2)]
    assert len(all_agents) == 6 and len(set(all_agents)) == 6
    assert agent.id in all_agents and group.agent_ids[0] in all_agents
    tagged = [a.id async for a in sdk.agents.list(tags=["sdk"], limit=1)]
    assert tagged == [agent.id]

    block_ids = [b.id async for b in sdk.blocks.list(limit=1)]
    assert len(block_ids) == len(set(block_ids)) == 4  # human, persona, project, memory_persona

    human = await sdk.agents.blocks.retrieve("human", agent_id=agent.id)
    assert human.value == "Name: Ana"
    await sdk.agents.blocks.update("human", agent_id=agent.id, value="Name: Ana B.")
    seen_by_helper = await sdk.agents.blocks.retrieve("human", agent_id=helper.id)
    assert seen_by_helper.value == "Name: Ana B."
    core = [b.label async for b in sdk.agents.blocks.list(agent.id)]
    assert sorted(core) == ["human", "persona", "project"]


async def test_sdk_errors(sdk: AsyncLetta) -> None:
    with pytest.raises(NotFoundError):
        await sdk.agents.retrieve("agent-00000000-0000-4000-8000-000000000000")
    with pytest.raises(UnprocessableEntityError):
        await sdk.blocks.retrieve("not-a-block-id")
    agent = await sdk.agents.create(model=MODEL)
    await sdk.agents.delete(agent.id)
    with pytest.raises(NotFoundError):
        await sdk.agents.retrieve(agent.id)
