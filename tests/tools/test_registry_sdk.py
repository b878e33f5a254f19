"""The official ``letta-client`` SDK registering tools from source and giving them to agents."""

import pytest
from letta_client import AsyncLetta, BadRequestError, ConflictError, NotFoundError

from tests.conftest import MODEL, AppFactory
from tests.tools.test_registry_api import GREET, ROLL


@pytest.fixture
async def sdk(make_client: AppFactory) -> AsyncLetta:
    http = await make_client()
    return AsyncLetta(base_url="http://testserver", http_client=http, max_retries=0)


async def test_tools_from_source_through_the_sdk(sdk: AsyncLetta) -> None:
    tool = await sdk.tools.create(
        source_code=ROLL, tags=["dice"], pip_requirements=[{"name": "numpy"}]
    )
    assert tool.name == "roll_dice" and tool.tool_type == "custom"
    assert tool.json_schema is not None
    assert tool.json_schema["parameters"]["required"] == ["sides"]  # type: ignore[index]
    assert tool.pip_requirements is not None and tool.pip_requirements[0].name == "numpy"
    with pytest.raises(ConflictError):
        await sdk.tools.create(source_code=ROLL)
    with pytest.raises(BadRequestError):
        await sdk.tools.create(source_code="def broken(:")

    upserted = await sdk.tools.upsert(source_code=ROLL, default_requires_approval=True)
    assert upserted.id == tool.id and upserted.default_requires_approval is True
    greet = await sdk.tools.upsert(source_code=GREET)

    listed = [t.name async for t in sdk.tools.list(limit=3)]
    assert listed[:2] == ["greet", "roll_dice"] and len(listed) == len(set(listed))
    assert [t.id async for t in sdk.tools.list(name="greet")] == [greet.id]
    fetched = await sdk.tools.retrieve(tool.id)
    assert fetched.source_code == ROLL

    updated = await sdk.tools.update(tool.id, description="Dice.", metadata={"k": "v"})
    assert updated.description == "Dice." and updated.metadata == {"k": "v"}

    agent = await sdk.agents.create(model=MODEL, tools=["roll_dice"], include_base_tools=False)
    assert [t.name for t in agent.tools] == ["roll_dice"]
    state = await sdk.agents.tools.attach(greet.id, agent_id=agent.id)
    assert state is not None and {t.name for t in state.tools} == {"roll_dice", "greet"}
    agent_tools = [t.name async for t in sdk.agents.tools.list(agent.id)]
    assert set(agent_tools) == {"roll_dice", "greet"}
    state = await sdk.agents.tools.detach(tool.id, agent_id=agent.id)
    assert state is not None and [t.name for t in state.tools] == ["greet"]

    await sdk.tools.delete(greet.id)
    with pytest.raises(NotFoundError):
        await sdk.tools.retrieve(greet.id)
    after = await sdk.agents.retrieve(agent.id)
    assert after.tools == []

    with_secrets = await sdk.agents.create(model=MODEL, secrets={"TOKEN": "t"})
    assert with_secrets.secrets is not None
    assert [(s.key, s.value) for s in with_secrets.secrets] == [("TOKEN", "t")]
