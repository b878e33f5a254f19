"""The official SDK (``letta-client`` 1.12) files, finds and forgets archival memory, and
manages archives, against the real server."""

import pytest
from letta_client import AsyncLetta, NotFoundError

from tests.conftest import MODEL, AppFactory
from tests.fakes.llm_server import FakeLLMServer

EMBEDDING = "openai/fake-embedding"


@pytest.fixture
async def sdk(make_client: AppFactory) -> AsyncLetta:
    http = await make_client(openai_models=["gpt-4o-mini", "fake-embedding"])
    return AsyncLetta(base_url="http://testserver", http_client=http, max_retries=0)


async def test_agent_passages_through_the_sdk(sdk: AsyncLetta, fake_llm: FakeLLMServer) -> None:
    agent = await sdk.agents.create(model=MODEL, embedding=EMBEDDING, memory_blocks=[])
    [stored] = await sdk.agents.passages.create(agent.id, text="Ana has two cats", tags=["pets"])
    assert stored.text == "Ana has two cats" and stored.tags == ["pets"]
    await sdk.agents.passages.create(agent.id, text="Ana works as a nurse")

    listed = await sdk.agents.passages.list(agent.id, ascending=False, limit=10)
    assert [p.text for p in listed] == ["Ana works as a nurse", "Ana has two cats"]
    assert listed[0].embedding_config is not None
    assert listed[0].embedding_config.embedding_model == "fake-embedding"

    found = await sdk.agents.passages.search(agent.id, query="kitten", top_k=1)
    assert found.count == 1 and found.results[0].content == "Ana has two cats"
    assert found.results[0].tags == ["pets"]

    await sdk.agents.passages.delete(stored.id, agent_id=agent.id)
    with pytest.raises(NotFoundError):
        await sdk.agents.passages.delete(stored.id, agent_id=agent.id)


async def test_archives_through_the_sdk(sdk: AsyncLetta, fake_llm: FakeLLMServer) -> None:
    archive = await sdk.archives.create(name="facts", description="shared", embedding=EMBEDDING)
    assert archive.name == "facts" and archive.embedding_config is not None
    passage = await sdk.archives.passages.create(archive.id, text="The sky is blue", tags=["sky"])
    many = await sdk.archives.passages.create_many(
        archive.id, passages=[{"text": "Grass is green"}, {"text": "Snow is white"}]
    )
    assert [p.text for p in many] == ["Grass is green", "Snow is white"]

    agent = await sdk.agents.create(model=MODEL, memory_blocks=[])
    await sdk.agents.archives.attach(archive.id, agent_id=agent.id)
    hits = await sdk.passages.search(agent_id=agent.id, query="blue sky", limit=2)
    assert hits[0].passage.id == passage.id and hits[0].score > 0
    by_archive = await sdk.passages.search(archive_id=archive.id, query="snow", limit=1)
    assert [h.passage.text for h in by_archive] == ["Snow is white"]

    listed = [a.id async for a in sdk.archives.list(agent_id=agent.id)]
    assert listed == [archive.id]
    updated = await sdk.archives.update(archive.id, name="truths")
    assert (await sdk.archives.retrieve(archive.id)).name == updated.name == "truths"
    await sdk.archives.passages.delete(passage.id, archive_id=archive.id)
    await sdk.agents.archives.detach(archive.id, agent_id=agent.id)
    assert [a.id async for a in sdk.archives.list(agent_id=agent.id)] == []
    await sdk.archives.delete(archive.id)
    with pytest.raises(NotFoundError):
        await sdk.archives.retrieve(archive.id)
