"""A Letta 0.16.8 route this server does not serve answers 501 naming the route, never a 404
that reads like a wrong id; the README's compatibility table says the same as the code."""

import re
from pathlib import Path

import httpx
import pytest

from app.config import AuthMode
from app.letta_routes import LETTA_ROUTES, NOT_SUPPORTED, unsupported
from app.main import ROUTERS
from tests.conftest import AppFactory

README = Path(__file__).resolve().parents[1] / "README.md"
MISSING = unsupported(ROUTERS)
MISSING_ROUTES = {(method, path) for _family, method, path in MISSING}
SERVED = [
    tuple(route.split(" ", 1))
    for routes in LETTA_ROUTES.values()
    for route in routes
    if tuple(route.split(" ", 1)) not in MISSING_ROUTES
]


def concrete(path: str) -> str:
    """A path of the template, with ids of the right shape where the template has ids."""

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name.endswith(":path"):
            return "some/where"
        kind = name.removesuffix("_id")
        return f"{kind}-00000000-0000-4000-8000-000000000000" if name.endswith("_id") else "x"

    return re.sub(r"\{([^}]*)\}", value, path)


def test_the_table_holds_many_routes_and_we_serve_the_core() -> None:
    assert len(MISSING) > 150 and len(SERVED) > 40
    assert ("GET", "/v1/runs/active") in MISSING_ROUTES
    assert ("GET", "/v1/agents/{agent_id}/tools") in SERVED
    assert ("POST", "/v1/agents/{agent_id}/tools/{tool_name}/run") in SERVED


@pytest.mark.parametrize(("method", "path"), sorted(MISSING_ROUTES), ids=str)
async def test_every_route_not_served_answers_501(
    module_client: AppFactory, method: str, path: str
) -> None:
    client = await module_client()
    for variant in {path, path.rstrip("/")}:
        response = await client.request(method, concrete(variant), json={})
        assert response.status_code == 501, (variant, response.text)
        if method != "HEAD":
            assert response.json() == {
                "detail": {
                    "code": NOT_SUPPORTED,
                    "message": f"{method} {path} is a Letta API route that this server does "
                    "not support.",
                    "route": f"{method} {path}",
                }
            }
        assert response.headers["x-should-retry"] == "false"


@pytest.mark.parametrize(("method", "path"), SERVED, ids=str)
async def test_routes_we_serve_are_never_501(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    response = await client.request(method, concrete(path), json={})
    assert response.status_code != 501, response.text


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/v1/nothing-here", 404),
        ("GET", "/v1/agents/agent-00000000-0000-4000-8000-000000000000/nothing", 404),
        ("POST", "/v2/agents/", 404),
        ("PUT", "/v1/runs/run-00000000-0000-4000-8000-000000000000", 405),
    ],
)
async def test_paths_letta_never_had_are_not_501(
    module_client: AppFactory, method: str, path: str, status: int
) -> None:
    client = await module_client()
    response = await client.request(method, path)
    assert response.status_code == status, response.text


async def test_a_route_not_served_still_needs_a_key(make_client: AppFactory) -> None:
    client = await make_client(auth=AuthMode.required)
    assert (await client.get("/v1/runs/active")).status_code == 401
    assert (await client.post("/v1/archives/", json={})).status_code == 401


def _readme_table() -> dict[str, str]:
    text = README.read_text()
    section = text[text.index("## Compatibility with Letta 0.16.8") :]
    rows = re.findall(r"^\| ([^|]+?) \| (supported|partial|not yet)\b", section, re.MULTILINE)
    return dict(rows)


def test_the_readme_table_names_every_family_with_its_true_status() -> None:
    table = _readme_table()
    assert set(table) == set(LETTA_ROUTES)
    missing_by_family: dict[str, int] = {}
    for family, _method, _path in MISSING:
        missing_by_family[family] = missing_by_family.get(family, 0) + 1
    for family, routes in LETTA_ROUTES.items():
        gone = missing_by_family.get(family, 0)
        status = "supported" if gone == 0 else "not yet" if gone == len(routes) else "partial"
        assert table[family] == status, (family, sorted(r for f, *r in MISSING if f == family))
