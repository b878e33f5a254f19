import httpx

from tests.helpers import ok


async def test_health_routes(client: httpx.AsyncClient) -> None:
    health = await ok(client.get("/v1/health/"))
    assert health["status"] == "ok" and health["version"]
    assert await ok(client.get("/v1/health")) == health
    assert (await ok(client.get("/livez")))["status"] == "ok"
    ready = await ok(client.get("/readyz"))
    assert ready["status"] == "ok"


async def test_metrics_and_request_id(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/agents/", headers={"x-request-id": "req-123"})
    assert response.headers["x-request-id"] == "req-123"
    assert len((await client.get("/v1/blocks/")).headers["x-request-id"]) == 32
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'sleeptime_http_requests_total{method="GET",route="/v1/agents/",status="200"}' in text
    assert "sleeptime_http_request_duration_seconds_bucket" in text


async def test_unknown_route_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")
    assert response.status_code == 404
