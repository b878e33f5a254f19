"""Agent files carry archival memory when asked: the archives an agent reads, their
passages and vectors, attached again on import to the new agents."""

import httpx
import pytest

from tests.agentfile.conftest import upload
from tests.conftest import MODEL, AppFactory
from tests.fakes.llm_server import FakeLLMServer
from tests.helpers import ok

EMBEDDING = "openai/fake-embedding"


@pytest.fixture
async def client(make_client: AppFactory) -> httpx.AsyncClient:
    return await make_client(openai_models=["gpt-4o-mini", "fake-embedding"])


async def test_archives_travel_in_the_file_when_asked(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await ok(
        client.post(
            "/v1/agents/",
            json={"model": MODEL, "embedding": EMBEDDING, "memory_blocks": [], "name": "ana"},
        )
    )
    body = {"text": "Ana adopted a kitten", "tags": ["pets"]}
    await ok(client.post(f"/v1/agents/{agent['id']}/archival-memory", json=body))
    shared = await ok(client.post("/v1/archives/", json={"name": "facts"}))
    await ok(client.post(f"/v1/archives/{shared['id']}/passages", json={"text": "Sky is blue"}))
    await ok(client.patch(f"/v1/agents/{agent['id']}/archives/attach/{shared['id']}"))

    plain = await ok(client.get(f"/v1/agents/{agent['id']}/export"))
    assert "archives" not in plain
    data = await ok(
        client.get(f"/v1/agents/{agent['id']}/export", params={"include_archives": "true"})
    )
    own, facts = data["archives"]
    assert own["owner_agent_id"] == own["agent_ids"][0] == data["agents"][0]["id"]
    assert len(own["passages"][0]["embedding"]) == 64 and facts["embedding"] is None

    imported = await ok(upload(client, data))
    [new_id] = imported["agent_ids"]
    requests = len(fake_llm.state.embedding_requests)
    found = await ok(
        client.get(f"/v1/agents/{new_id}/archival-memory/search", params={"query": "feline"})
    )
    assert found["results"][0]["content"] == "Ana adopted a kitten"
    assert found["results"][0]["tags"] == ["pets"]
    assert len(fake_llm.state.embedding_requests) == requests + 1  # the query only
    listed = await ok(client.get(f"/v1/agents/{new_id}/archival-memory"))
    assert sorted(p["text"] for p in listed) == ["Ana adopted a kitten", "Sky is blue"]
    again = await ok(client.get(f"/v1/agents/{new_id}/export", params={"include_archives": "true"}))
    assert [a["name"] for a in again["archives"]] == ["ana's archive", "facts"]

    data["archives"][0]["agent_ids"] = ["agent-9"]
    refused = await upload(client, data)
    assert refused.status_code == 400 and "archives[0].agent_ids" in refused.text
    assert len(await ok(client.get("/v1/agents/"))) == 2  # nothing of it was written
