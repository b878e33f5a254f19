"""The OpenAPI document declares each route's error answers, and the app's 422 matches it."""

from typing import Any

import httpx

from tests.helpers import create_agent


async def _document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


async def test_every_v1_route_declares_its_errors(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    assert "ErrorBody" in document["components"]["schemas"]
    for path, item in document["paths"].items():
        for method, operation in item.items():
            declared = set(operation["responses"])
            assert {"422", "500", "503"} <= declared, (method, path, declared)
            if path.startswith("/v1/"):
                assert {"400", "401", "404", "409"} <= declared, (method, path, declared)
    send = document["paths"]["/v1/agents/{agent_id}/messages/stream"]["post"]["responses"]
    assert {"429", "502", "504"} <= set(send)
    error = send["409"]["content"]["application/json"]["schema"]
    assert error == {"$ref": "#/components/schemas/ErrorBody"}


async def test_validation_errors_have_the_declared_shape(client: httpx.AsyncClient) -> None:
    document = await _document(client)
    item = document["components"]["schemas"]["ValidationError"]
    agent = await create_agent(client)
    response = await client.patch(f"/v1/agents/{agent['id']}", json={"max_tokens": "many"})
    assert response.status_code == 422
    for error in response.json()["detail"]:
        assert set(item["required"]) <= set(error) <= set(item["properties"]), error
