"""An agent's own archive goes with the agent unless another agent reads it; the size of the
stored embeddings (``GET /v1/embeddings/total_storage_size``)."""

from typing import Any

import httpx
import pytest

from tests.conftest import MODEL, AppFactory
from tests.helpers import ok

EMBEDDING = "openai/fake-embedding"
DIM = 64  # the fake embedding model's


@pytest.fixture
async def client(make_client: AppFactory) -> httpx.AsyncClient:
    return await make_client(openai_models=["gpt-4o-mini", "fake-embedding"])


async def _agent(client: httpx.AsyncClient) -> str:
    body = {"model": MODEL, "memory_blocks": [], "embedding": EMBEDDING}
    return str((await ok(client.post("/v1/agents/", json=body)))["id"])


async def _own_archive(client: httpx.AsyncClient, agent_id: str, *texts: str) -> str:
    for text in texts:
        await ok(client.post(f"/v1/agents/{agent_id}/archival-memory", json={"text": text}))
    [archive] = await ok(client.get("/v1/archives/", params={"agent_id": agent_id}))
    return str(archive["id"])


async def _status(client: httpx.AsyncClient, path: str) -> int:
    return (await client.get(path)).status_code


async def test_an_own_archive_goes_with_its_agent_unless_another_reads_it(
    client: httpx.AsyncClient,
) -> None:
    alone, sharer, reader = await _agent(client), await _agent(client), await _agent(client)
    lonely = await _own_archive(client, alone, "only mine")
    shared = await _own_archive(client, sharer, "ours")
    await ok(client.patch(f"/v1/agents/{reader}/archives/attach/{shared}"))
    named: dict[str, Any] = await ok(client.post("/v1/archives/", json={"name": "team"}))
    await ok(client.patch(f"/v1/agents/{alone}/archives/attach/{named['id']}"))

    await ok(client.delete(f"/v1/agents/{alone}"))
    await ok(client.delete(f"/v1/agents/{sharer}"))
    assert await _status(client, f"/v1/archives/{lonely}") == 404
    assert await _status(client, f"/v1/archives/{shared}") == 200  # the reader still has it
    assert await _status(client, f"/v1/archives/{named['id']}") == 200  # nobody's own
    [kept] = await ok(client.get(f"/v1/agents/{reader}/archival-memory"))
    assert kept["text"] == "ours"


async def test_total_storage_size_counts_the_stored_vectors(client: httpx.AsyncClient) -> None:
    path = "/v1/embeddings/total_storage_size"
    assert await ok(client.get(path)) == 0
    agent = await _agent(client)
    await _own_archive(client, agent, "one", "two")
    plain = await ok(client.post("/v1/archives/", json={"name": "words only"}))
    await ok(client.post(f"/v1/archives/{plain['id']}/passages", json={"text": "no vector"}))

    stored = 2 * DIM * 4
    assert await ok(client.get(path, headers={"storage_unit": "B"})) == stored
    assert await ok(client.get(path, headers={"storage_unit": "KB"})) == stored / 1024
    assert await ok(client.get(path)) == stored / 1024**3
    refused = await client.get(path, headers={"storage_unit": "PB"})
    assert refused.status_code == 400 and "storage_unit" in refused.text
