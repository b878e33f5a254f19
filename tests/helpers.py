"""Small helpers shared by the API tests."""

from typing import Any

import httpx

from tests.conftest import MODEL


async def ok(response_awaitable: Any, status: int = 200) -> Any:
    response: httpx.Response = await response_awaitable
    assert response.status_code == status, response.text
    return response.json()


async def create_agent(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("model", MODEL)
    return await ok(client.post("/v1/agents/", json=body))  # type: ignore[no-any-return]


async def create_block(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    body.setdefault("label", "human")
    body.setdefault("value", "")
    return await ok(client.post("/v1/blocks/", json=body))  # type: ignore[no-any-return]


async def page_all(client: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    """Walk a list the way the SDK does: ``after=<last id>`` until an empty page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = dict(params)
        if cursor is not None:
            query["after"] = cursor
        page = await ok(client.get(path, params=query))
        if not page:
            return items
        items.extend(page)
        cursor = page[-1]["id"]


async def history(client: httpx.AsyncClient, agent_id: str, **params: Any) -> list[dict[str, Any]]:
    """An agent's message list after its system message, which always comes first."""
    listed = await ok(client.get(f"/v1/agents/{agent_id}/messages", params=params))
    assert listed and listed[0]["message_type"] == "system_message", listed[:1]
    return listed[1:]  # type: ignore[no-any-return]
