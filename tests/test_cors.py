"""Browser clients: CORS for the origins in ``SLEEPTIME_CORS_ORIGINS``, and none by default."""

import pytest

from app.config import Settings
from tests.conftest import AppFactory

ORIGIN = "https://app.example.com"
PREFLIGHT = {
    "Origin": ORIGIN,
    "Access-Control-Request-Method": "PATCH",
    "Access-Control-Request-Headers": "authorization, content-type",
}


async def test_off_by_default(make_client: AppFactory) -> None:
    client = await make_client()
    preflight = await client.options("/v1/agents/", headers=PREFLIGHT)
    assert preflight.status_code == 405
    assert "access-control-allow-origin" not in preflight.headers
    simple = await client.get("/v1/blocks/", headers={"Origin": ORIGIN})
    assert simple.status_code == 200
    assert not any(h.startswith("access-control-") for h in simple.headers)


async def test_configured_origins_get_preflights_and_simple_requests(
    make_client: AppFactory,
) -> None:
    client = await make_client(cors_origins=[ORIGIN, "http://localhost:5173"])
    preflight = await client.options("/v1/agents/agent-x", headers=PREFLIGHT)
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN
    assert "PATCH" in preflight.headers["access-control-allow-methods"]
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    simple = await client.get("/v1/blocks/", headers={"Origin": ORIGIN})
    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == ORIGIN
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    # errors carry the header too, so the browser lets the page read them
    missing = await client.get("/v1/nothing", headers={"Origin": ORIGIN})
    assert missing.status_code == 404
    assert missing.headers["access-control-allow-origin"] == ORIGIN


async def test_other_origins_are_not_allowed(make_client: AppFactory) -> None:
    client = await make_client(cors_origins=[ORIGIN])
    other = {**PREFLIGHT, "Origin": "https://evil.example"}
    preflight = await client.options("/v1/agents/", headers=other)
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    simple = await client.get("/v1/blocks/", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


async def test_any_origin(make_client: AppFactory) -> None:
    client = await make_client(cors_origins=["*"])
    simple = await client.get("/v1/blocks/", headers={"Origin": "https://anywhere.example"})
    assert simple.headers["access-control-allow-origin"] == "*"


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        ("", []),
        (ORIGIN, [ORIGIN]),
        (f" {ORIGIN} , http://localhost:5173,", [ORIGIN, "http://localhost:5173"]),
    ],
)
def test_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, value: str, origins: list[str]
) -> None:
    monkeypatch.setenv("SLEEPTIME_CORS_ORIGINS", value)
    assert Settings().cors_origins == origins
