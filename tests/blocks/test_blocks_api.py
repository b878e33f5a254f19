import httpx
import pytest

from tests.helpers import create_agent, create_block, ok, page_all

MISSING_BLOCK = "block-00000000-0000-4000-8000-000000000000"


async def test_create_and_read_a_block(client: httpx.AsyncClient) -> None:
    block = await create_block(
        client,
        label="human",
        value="Name: Ana",
        limit=100,
        description="the user",
        metadata={"k": 1},
        tags=["t"],
    )
    assert block["id"].startswith("block-")
    assert (block["label"], block["value"], block["limit"]) == ("human", "Name: Ana", 100)
    assert block["metadata"] == {"k": 1}
    assert block["version"] == 1
    assert await ok(client.get(f"/v1/blocks/{block['id']}")) == block


async def test_defaults_and_null_value(client: httpx.AsyncClient) -> None:
    block = await ok(client.post("/v1/blocks/", json={"label": "notes", "value": None}))
    assert block["value"] == ""
    assert block["limit"] == 100_000  # Letta 0.16.7+
    assert block["read_only"] is False


async def test_value_over_limit_is_refused_on_create(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/blocks/", json={"label": "x", "value": "a" * 11, "limit": 10})
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail["code"] == "BLOCK_LIMIT_EXCEEDED"
    assert detail["limit"] == 10 and detail["requested"] == 11
    assert await ok(client.get("/v1/blocks/")) == []


async def test_limit_is_enforced_on_every_update_path(client: httpx.AsyncClient) -> None:
    block = await create_block(client, label="human", value="12345", limit=10)
    too_long = await client.patch(f"/v1/blocks/{block['id']}", json={"value": "x" * 11})
    assert too_long.status_code == 422
    lowered = await client.patch(f"/v1/blocks/{block['id']}", json={"limit": 4})
    assert lowered.status_code == 422
    agent = await create_agent(client, block_ids=[block["id"]])
    via_agent = await client.patch(
        f"/v1/agents/{agent['id']}/core-memory/blocks/human", json={"value": "y" * 11}
    )
    assert via_agent.json()["detail"]["code"] == "BLOCK_LIMIT_EXCEEDED"
    unchanged = await ok(client.get(f"/v1/blocks/{block['id']}"))
    assert (unchanged["value"], unchanged["limit"], unchanged["version"]) == ("12345", 10, 1)


async def test_update_changes_fields_and_records_history(client: httpx.AsyncClient) -> None:
    block = await create_block(client, label="human", value="v1")
    updated = await ok(
        client.patch(f"/v1/blocks/{block['id']}", json={"value": "v2", "description": "d"})
    )
    assert (updated["value"], updated["description"], updated["version"]) == ("v2", "d", 2)
    same = await ok(client.patch(f"/v1/blocks/{block['id']}", json={"read_only": True}))
    assert same["version"] == 2 and same["read_only"] is True
    history = await ok(client.get(f"/v1/blocks/{block['id']}/history"))
    assert [(h["version"], h["value"], h["actor_type"]) for h in history] == [
        (2, "v2", "api"),
        (1, "v1", "api"),
    ]
    # Cursors page like every list: `after` is what follows in the listing order (older here).
    older = await ok(client.get(f"/v1/blocks/{block['id']}/history", params={"after": 2}))
    assert [h["version"] for h in older] == [1]
    newer = await ok(client.get(f"/v1/blocks/{block['id']}/history", params={"before": 1}))
    assert [h["version"] for h in newer] == [2]


async def test_delete_detaches_from_agents(client: httpx.AsyncClient) -> None:
    block = await create_block(client, label="human", value="x")
    agent = await create_agent(client, block_ids=[block["id"]])
    assert await ok(client.delete(f"/v1/blocks/{block['id']}")) is None
    assert (await client.get(f"/v1/blocks/{block['id']}")).status_code == 404
    state = await ok(client.get(f"/v1/agents/{agent['id']}"))
    assert state["blocks"] == []


async def test_list_filters(client: httpx.AsyncClient) -> None:
    await create_block(client, label="human", value="likes Tea", description="About Ana")
    await create_block(client, label="persona", value="a helper")
    await create_block(client, label="humans_100%", value="x")
    labels = lambda blocks: sorted(b["label"] for b in blocks)  # noqa: E731
    assert labels(await ok(client.get("/v1/blocks", params={"label": "human"}))) == ["human"]
    found = await ok(client.get("/v1/blocks/", params={"label_search": "HUM"}))
    assert labels(found) == ["human", "humans_100%"]
    assert labels(await ok(client.get("/v1/blocks/", params={"label_search": "0%"}))) == [
        "humans_100%"
    ]
    assert labels(await ok(client.get("/v1/blocks/", params={"value_search": "tea"}))) == ["human"]
    found = await ok(client.get("/v1/blocks/", params={"description_search": "ana"}))
    assert labels(found) == ["human"]


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_paging_after_until_empty(client: httpx.AsyncClient, order: str) -> None:
    created = [(await create_block(client, label=f"b{i}", value=""))["id"] for i in range(7)]
    walked = await page_all(client, "/v1/blocks/", limit=3, order=order)
    expected = created if order == "asc" else list(reversed(created))
    assert [b["id"] for b in walked] == expected


@pytest.mark.parametrize("order", ["asc", "desc"])
async def test_paging_before_returns_the_nearest_items(
    client: httpx.AsyncClient, order: str
) -> None:
    created = [(await create_block(client, label=f"b{i}", value=""))["id"] for i in range(6)]
    listing = created if order == "asc" else list(reversed(created))
    page = await ok(
        client.get("/v1/blocks/", params={"before": listing[4], "limit": 2, "order": order})
    )
    assert [b["id"] for b in page] == listing[2:4]
    collected: list[str] = []
    cursor = listing[-1]
    while page := await ok(
        client.get("/v1/blocks/", params={"before": cursor, "limit": 2, "order": order})
    ):
        collected = [b["id"] for b in page] + collected
        cursor = page[0]["id"]
    assert collected == listing[:-1]
    between = await ok(
        client.get(
            "/v1/blocks/", params={"after": listing[0], "before": listing[4], "order": order}
        )
    )
    assert [b["id"] for b in between] == listing[1:4]


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/v1/blocks/not-an-id", None, 422),
        ("get", "/v1/blocks/agent-00000000-0000-4000-8000-000000000000", None, 422),
        ("get", f"/v1/blocks/{MISSING_BLOCK}", None, 404),
        ("patch", f"/v1/blocks/{MISSING_BLOCK}", {"value": "x"}, 404),
        ("delete", f"/v1/blocks/{MISSING_BLOCK}", None, 404),
        ("get", f"/v1/blocks/{MISSING_BLOCK}/history", None, 404),
        ("post", "/v1/blocks/", {"value": "no label"}, 422),
        ("post", "/v1/blocks/", {"label": "", "value": "x"}, 422),
        ("post", "/v1/blocks/", {"label": "a/b", "value": "x"}, 422),
        ("post", "/v1/blocks/", {"label": "x", "value": 5}, 422),
        ("post", "/v1/blocks/", {"label": "x", "value": "", "limit": 0}, 422),
        ("post", "/v1/blocks/", {"label": "x", "value": "", "limit": "many"}, 422),
        ("post", "/v1/blocks/", {"label": "x", "value": "", "metadata": []}, 422),
        ("post", "/v1/blocks/", [1, 2], 422),
        ("get", "/v1/blocks/?limit=0", None, 422),
        ("get", "/v1/blocks/?limit=abc", None, 422),
        ("get", "/v1/blocks/?order=sideways", None, 422),
        ("get", f"/v1/blocks/?after={MISSING_BLOCK}", None, 400),
    ],
)
async def test_bad_input_is_a_clear_4xx(
    client: httpx.AsyncClient, method: str, path: str, body: object, status: int
) -> None:
    response = await client.request(method, path, json=body)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


async def test_invalid_json_body_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/blocks/", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422


async def test_unknown_fields_are_ignored(client: httpx.AsyncClient) -> None:
    block = await ok(client.post("/v1/blocks/", json={"label": "x", "value": "y", "bogus": 1}))
    assert "bogus" not in block
