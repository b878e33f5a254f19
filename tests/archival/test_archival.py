"""Archival memory over HTTP: an agent's passages, archives shared between agents, and
search that ranks by meaning (vectors of one model) and by words (full text)."""

from typing import Any

import httpx
import pytest

from tests.conftest import MODEL, AppFactory
from tests.fakes.llm_server import FakeLLMServer

EMBEDDING = "openai/fake-embedding"


@pytest.fixture
async def client(make_client: AppFactory) -> httpx.AsyncClient:
    return await make_client(openai_models=["gpt-4o-mini", "fake-embedding"])


async def _agent(client: httpx.AsyncClient, **extra: Any) -> str:
    body = {"model": MODEL, "memory_blocks": [], **extra}
    response = await client.post("/v1/agents/", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def _insert(client: httpx.AsyncClient, agent_id: str, text: str, **extra: Any) -> str:
    response = await client.post(
        f"/v1/agents/{agent_id}/archival-memory", json={"text": text, **extra}
    )
    assert response.status_code == 200, response.text
    [passage] = response.json()
    return str(passage["id"])


async def test_an_agent_files_lists_finds_and_forgets_passages(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await _agent(client, embedding=EMBEDDING)
    cat = await _insert(client, agent, "My kitten sleeps on the sofa", tags=["pets"])
    await _insert(client, agent, "The quarterly report is due on Friday", tags=["work"])
    await _insert(client, agent, "We booked a flight to Lisbon", tags=["travel", "work"])
    assert len(fake_llm.state.embedding_requests) == 3

    listed = (await client.get(f"/v1/agents/{agent}/archival-memory")).json()
    assert [p["text"][:6] for p in listed] == ["My kit", "The qu", "We boo"]
    assert listed[0]["embedding_config"]["handle"] == EMBEDDING
    assert listed[0]["embedding_config"]["embedding_dim"] == 64
    newest_first = await client.get(
        f"/v1/agents/{agent}/archival-memory", params={"ascending": "false", "limit": 1}
    )
    assert [p["text"][:6] for p in newest_first.json()] == ["We boo"]

    # "feline" shares no word with the stored text: only the vectors can find it.
    found = await client.get(
        f"/v1/agents/{agent}/archival-memory/search", params={"query": "feline", "top_k": 1}
    )
    assert found.status_code == 200, found.text
    assert found.headers["X-Archival-Search"] == "hybrid"
    assert found.json()["count"] == 1
    assert found.json()["results"][0]["id"] == cat
    assert found.json()["results"][0]["tags"] == ["pets"]

    work = await client.get(
        f"/v1/agents/{agent}/archival-memory/search",
        params={"query": "report flight", "tags": ["work", "travel"], "tag_match_mode": "all"},
    )
    assert [r["content"][:6] for r in work.json()["results"]] == ["We boo"]

    # A passage filed after a search is ranked by the next one (no stale vectors).
    puppy = await _insert(client, agent, "A puppy chewed my shoes")
    found = await client.get(
        f"/v1/agents/{agent}/archival-memory/search", params={"query": "canine", "top_k": 1}
    )
    assert found.json()["results"][0]["id"] == puppy
    await client.delete(f"/v1/agents/{agent}/archival-memory/{puppy}")

    gone = await client.delete(f"/v1/agents/{agent}/archival-memory/{cat}")
    assert gone.status_code == 200
    again = await client.delete(f"/v1/agents/{agent}/archival-memory/{cat}")
    assert again.status_code == 404
    left = (await client.get(f"/v1/agents/{agent}/archival-memory")).json()
    assert len(left) == 2


async def test_without_an_embedding_model_search_runs_on_full_text(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await _agent(client)
    await _insert(client, agent, "Ana prefers green tea in the morning")
    await _insert(client, agent, "Ana's brother is called Luis")
    assert fake_llm.state.embedding_requests == []
    [passage, _] = (await client.get(f"/v1/agents/{agent}/archival-memory")).json()
    assert passage["embedding_config"] is None

    found = await client.get(
        f"/v1/agents/{agent}/archival-memory/search", params={"query": "tea mornings"}
    )
    assert found.headers["X-Archival-Search"] == "fulltext"
    assert [r["content"] for r in found.json()["results"]] == [
        "Ana prefers green tea in the morning"
    ]


async def test_a_failing_embedding_endpoint_stores_nothing(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    agent = await _agent(client, embedding=EMBEDDING)
    fake_llm.state.embedding_status = 500
    response = await client.post(f"/v1/agents/{agent}/archival-memory", json={"text": "lost"})
    assert response.status_code == 502
    assert "embedding" in response.json()["detail"]
    assert len(fake_llm.state.embedding_requests) > 1  # retried before giving up
    fake_llm.state.embedding_status = 200
    assert (await client.get(f"/v1/agents/{agent}/archival-memory")).json() == []


async def test_archives_are_shared_between_agents(
    client: httpx.AsyncClient, fake_llm: FakeLLMServer
) -> None:
    created = await client.post(
        "/v1/archives/",
        json={"name": "family", "description": "who is who", "embedding": EMBEDDING},
    )
    assert created.status_code == 200, created.text
    archive = created.json()
    assert archive["id"].startswith("archive-") and archive["vector_db_provider"] == "native"
    assert archive["embedding_config"]["embedding_model"] == "fake-embedding"

    batch = await client.post(
        f"/v1/archives/{archive['id']}/passages/batch",
        json={
            "passages": [
                {"text": "Grandma cooks dinner on Sundays", "tags": ["food"]},
                {"text": "Uncle Tom owns two puppies", "tags": ["pets"], "metadata": {"k": 1}},
            ]
        },
    )
    assert batch.status_code == 200, batch.text
    assert [p["metadata"] for p in batch.json()] == [{}, {"k": 1}]
    assert len(fake_llm.state.embedding_requests) == 1  # one batched call

    first, second = await _agent(client), await _agent(client)
    for agent in (first, second):
        attached = await client.patch(f"/v1/agents/{agent}/archives/attach/{archive['id']}")
        assert attached.status_code == 200, attached.text
    found = await client.post(
        "/v1/passages/search", json={"agent_id": second, "query": "dog", "limit": 1}
    )
    assert found.status_code == 200, found.text
    [hit] = found.json()
    assert hit["passage"]["text"] == "Uncle Tom owns two puppies" and hit["score"] > 0

    agents = await client.get(f"/v1/archives/{archive['id']}/agents")
    assert {a["id"] for a in agents.json()} == {first, second}
    listed = await client.get("/v1/archives/", params={"agent_id": first})
    assert [a["id"] for a in listed.json()] == [archive["id"]]
    await client.patch(f"/v1/agents/{first}/archives/detach/{archive['id']}")
    assert (await client.get(f"/v1/agents/{first}/archival-memory")).json() == []
    assert len((await client.get(f"/v1/agents/{second}/archival-memory")).json()) == 2

    renamed = await client.patch(f"/v1/archives/{archive['id']}", json={"name": "kin"})
    assert renamed.json()["name"] == "kin" and renamed.json()["description"] == "who is who"
    passage = batch.json()[0]["id"]
    deleted = await client.delete(f"/v1/archives/{archive['id']}/passages/{passage}")
    assert deleted.status_code == 200
    assert (await client.delete(f"/v1/archives/{archive['id']}")).status_code == 200
    assert (await client.get(f"/v1/archives/{archive['id']}")).status_code == 404
    assert (await client.get(f"/v1/agents/{second}/archival-memory")).json() == []


async def test_search_filters_by_date_and_pages_by_cursor(client: httpx.AsyncClient) -> None:
    agent = await _agent(client)
    old = await _insert(client, agent, "apples in 2020", created_at="2020-05-01T00:00:00Z")
    new = await _insert(client, agent, "apples in 2025", created_at="2025-05-01T00:00:00Z")
    found = await client.post(
        "/v1/passages/search",
        json={"agent_id": agent, "query": "apples", "start_date": "2024-01-01T00:00:00Z"},
    )
    assert [h["passage"]["id"] for h in found.json()] == [new]
    page = await client.get(f"/v1/agents/{agent}/archival-memory", params={"after": old})
    assert [p["id"] for p in page.json()] == [new]
    # Times without a zone are UTC, wherever they come in.
    naive = await _insert(client, agent, "apples in 2022", created_at="2022-05-01T00:00:00")
    found = await client.get(
        f"/v1/agents/{agent}/archival-memory/search",
        params={
            "query": "apples",
            "start_datetime": "2022-01-01T00:00:00",
            "end_datetime": "2023-01-01T00:00:00",
        },
    )
    assert [r["id"] for r in found.json()["results"]] == [naive]


async def test_bad_input_is_refused_by_name(client: httpx.AsyncClient) -> None:
    unknown = await client.post("/v1/archives/", json={"name": "x", "embedding": "openai/nope"})
    assert unknown.status_code == 400 and "embedding" in unknown.json()["detail"]
    assert (await client.get("/v1/archives/archive-nope")).status_code == 422
    agent = await _agent(client)
    empty = await client.post(f"/v1/agents/{agent}/archival-memory", json={"text": ""})
    assert empty.status_code == 422
    long_tag = {"text": "x", "tags": ["t" * 256]}
    refused = await client.post(f"/v1/agents/{agent}/archival-memory", json=long_tag)
    assert refused.status_code == 422 and "tags" in refused.text
    nowhere = await client.post("/v1/passages/search", json={"query": "x"})
    assert nowhere.status_code == 400 and "agent_id" in nowhere.json()["detail"]
