import httpx

from app.kit import migrate
from tests.conftest import BACKEND, AppFactory
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


async def test_readiness_names_what_it_checked(make_client: AppFactory) -> None:
    listener = {"listener"} if BACKEND == "postgresql" else set()
    for dispatching, loops in ((True, {"claim", "heartbeat", "reaper"}), (False, {"heartbeat"})):
        client = await make_client(dispatcher=dispatching)
        ready = await ok(client.get("/readyz"))
        assert (ready["status"], ready["database"]) == ("ok", "ok")
        assert ready["schema"] == migrate.head_revision()
        assert set(ready["executors"]) == loops | listener
        assert not any(s.startswith("stopped") for s in ready["executors"].values())
