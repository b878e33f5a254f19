"""Validation at the edge: a value the database cannot hold is a 422 naming the field.

PostgreSQL's INTEGER is 32-bit and its text and JSON types refuse U+0000; JSON refuses
``NaN``. Each case below once reached the database and answered 500 (or, for
``sleeptime_debounce_seconds: 1e300``, broke every later turn of the primary).
"""

import json
from typing import Any

import httpx
import pytest

from tests.helpers import create_agent, create_block, ok

BIG32 = 2**31
BIG64 = 2**63


def assert_names(response: httpx.Response, *loc: str | int) -> None:
    """A FastAPI-standard 422 with an error at ``loc`` (or inside it)."""
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    locs = [tuple(error["loc"]) for error in detail]
    assert any(found[: len(loc)] == loc for found in locs), locs
    for error in detail:
        assert set(error) == {"type", "loc", "msg", "input"}, error


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("context_window_limit", BIG32),
        ("max_tokens", BIG32),
        ("description", "a\x00b"),
        ("system", "\x00"),
        ("metadata", {"k": "v\x00"}),
        ("metadata", {"k\x00": 1}),
        ("metadata", {"n": [1.5, float("nan")]}),
        ("metadata", {"n": BIG64}),
    ],
)
async def test_agent_fields_the_database_cannot_hold_are_422(
    client: httpx.AsyncClient, field: str, value: Any
) -> None:
    body = json.dumps({"model": "openai/gpt-4o-mini", field: value})  # NaN as the JSON token
    created = await client.post(
        "/v1/agents/", content=body, headers={"content-type": "application/json"}
    )
    assert_names(created, "body", field)
    agent = await create_agent(client)
    updated = await client.patch(
        f"/v1/agents/{agent['id']}",
        content=json.dumps({field: value}),
        headers={"content-type": "application/json"},
    )
    assert_names(updated, "body", field)


async def test_nan_and_infinity_are_422_not_500(client: httpx.AsyncClient) -> None:
    for token in ("NaN", "Infinity", "-Infinity"):
        response = await client.post(
            "/v1/blocks/",
            content='{"label": "human", "value": "", "metadata": {"x": ' + token + "}}",
            headers={"content-type": "application/json"},
        )
        assert_names(response, "body", "metadata")


async def test_block_limit_and_text_are_bounded(client: httpx.AsyncClient) -> None:
    assert_names(
        await client.post("/v1/blocks/", json={"label": "h", "value": "", "limit": BIG32}),
        "body",
        "limit",
    )
    assert_names(
        await client.post("/v1/blocks/", json={"label": "h", "value": "\x00"}), "body", "value"
    )
    block = await create_block(client)
    assert_names(
        await client.patch(f"/v1/blocks/{block['id']}", json={"limit": BIG32}), "body", "limit"
    )
    history = f"/v1/blocks/{block['id']}/history"
    assert_names(await client.get(history, params={"before": BIG32}), "query", "before")
    assert_names(await client.get(history, params={"after": BIG64}), "query", "after")
    await ok(client.get(history, params={"after": BIG32 - 1}))


async def test_nul_in_query_and_path_parameters_is_422(client: httpx.AsyncClient) -> None:
    assert_names(await client.get("/v1/agents/", params={"name": "a\x00"}), "query", "name")
    assert_names(await client.get("/v1/tags/", params={"name": "\x00"}), "query", "name")
    assert_names(await client.get("/v1/runs/", params={"agent_ids": "x\x00"}), "query", "agent_ids")
    response = await client.get("/v1/agents/agent-%00")
    assert response.status_code == 422, response.text


async def test_message_text_with_nul_is_422(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    path = f"/v1/agents/{agent['id']}/messages"
    body = {"messages": [{"role": "user", "content": "hi\x00"}]}
    assert_names(await client.post(path, json=body), "body", "messages")
    assert_names(await client.post(path + "/stream", json=body), "body", "messages")
    assert_names(
        await client.post(path, json={"input": "x", "max_steps": BIG32}), "body", "max_steps"
    )


async def test_group_frequency_and_debounce_are_bounded(client: httpx.AsyncClient) -> None:
    primary = (await create_agent(client))["id"]
    base = {"manager_type": "sleeptime", "manager_agent_id": primary}
    cases: list[tuple[str, Any]] = [
        ("sleeptime_agent_frequency", BIG32),
        ("sleeptime_debounce_seconds", 1e300),
        ("sleeptime_debounce_seconds", 86_401),
    ]
    for field, value in cases:
        body = {"agent_ids": [primary], "manager_config": {**base, field: value}}
        assert_names(await client.post("/v1/groups/", json=body), "body", "manager_config", field)


async def test_stream_cursor_beyond_the_column_is_422(client: httpx.AsyncClient) -> None:
    run = "run-00000000-0000-4000-8000-000000000000"
    response = await client.get(f"/v1/runs/{run}/stream", params={"starting_after": BIG64})
    assert_names(response, "query", "starting_after")
    response = await client.post(f"/v1/runs/{run}/stream", json={"starting_after": BIG64})
    assert_names(response, "body", "starting_after")


async def test_run_ids_to_cancel_refuse_nul(client: httpx.AsyncClient) -> None:
    agent = await create_agent(client)
    response = await client.post(
        f"/v1/agents/{agent['id']}/messages/cancel", json={"run_ids": ["run-\x00"]}
    )
    assert_names(response, "body", "run_ids")
