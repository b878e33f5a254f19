"""With keys required: every MCP route needs a key, and one organization's servers and
their tools are invisible to another, by id and by name, exactly like missing ones."""

import re
import sys
from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from app.auth import service
from app.config import AuthMode
from app.kit.db import Database
from app.kit.ids import Prefix, new_id
from app.mcp.endpoints import legacy_router, router
from tests.conftest import AppFactory
from tests.helpers import ok
from tests.mcp.conftest import SERVER, stdio_config

ROUTES = [
    (method, route.path)
    for r in (router, legacy_router)
    for route in r.routes
    if isinstance(route, APIRoute)
    for method in sorted(route.methods or ())
]


def concrete(path: str, ids: dict[str, str]) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)], path)


async def keyed_client(make_client: AppFactory, db: Database, org: str) -> httpx.AsyncClient:
    async with db.session() as session:
        issued = await service.create_key(session, org_name=org, name=None)
    client = await make_client(auth=AuthMode.required)
    client.headers["Authorization"] = f"Bearer {issued.secret}"
    return client


@pytest.mark.parametrize(("method", "path"), ROUTES, ids=[f"{m} {p}" for m, p in ROUTES])
async def test_every_mcp_route_needs_a_key(make_client: AppFactory, method: str, path: str) -> None:
    client = await make_client(auth=AuthMode.required)
    ids = {
        "mcp_server_id": new_id(Prefix.mcp_server),
        "tool_id": new_id(Prefix.tool),
        "mcp_server_name": "x",
        "mcp_tool_name": "x",
        "tool_name": "x",
    }
    body = {} if method in {"POST", "PATCH", "PUT"} else None
    response = await client.request(method, concrete(path, ids), json=body)
    assert response.status_code == 401, response.text


async def test_another_organizations_servers_answer_404_like_missing_ones(
    make_client: AppFactory, db: Database
) -> None:
    a = await keyed_client(make_client, db, "org-a")
    b = await keyed_client(make_client, db, "org-b")
    body = {"server_name": "private", "config": stdio_config()}
    server = await ok(a.post("/v1/mcp-servers/", json=body))
    tools = await ok(a.get(f"/v1/mcp-servers/{server['id']}/tools"))
    tool = next(t for t in tools if t["name"] == "add")

    assert await ok(b.get("/v1/mcp-servers/")) == []
    assert await ok(b.get("/v1/tools/mcp/servers")) == {}

    async def both(method: str, path: str, json: Any = None) -> None:
        """The request with A's ids and with ids that never existed: the same answer."""
        theirs = await b.request(method, path.format(s=server["id"], t=tool["id"]), json=json)
        fresh = path.format(s=new_id(Prefix.mcp_server), t=new_id(Prefix.tool))
        missing = await b.request(method, fresh, json=json)
        assert theirs.status_code == missing.status_code == 404, (path, theirs.text)

    await both("GET", "/v1/mcp-servers/{s}")
    await both("PATCH", "/v1/mcp-servers/{s}", {"server_name": "stolen"})
    await both("GET", "/v1/mcp-servers/{s}/tools")
    await both("GET", "/v1/mcp-servers/{s}/tools/{t}")
    await both("POST", "/v1/mcp-servers/{s}/tools/{t}/run", {"args": {"a": 1, "b": 1}})
    await both("PATCH", "/v1/mcp-servers/{s}/refresh")
    await both("GET", "/v1/mcp-servers/connect/{s}")
    await both("DELETE", "/v1/mcp-servers/{s}")
    for method, path, json in [
        ("PATCH", "/v1/tools/mcp/servers/private", {"server_url": "http://x"}),
        ("GET", "/v1/tools/mcp/servers/private/tools", None),
        ("POST", "/v1/tools/mcp/servers/private/resync", None),
        ("POST", "/v1/tools/mcp/servers/private/add", None),
        ("POST", "/v1/tools/mcp/servers/private/tools/add/execute", {"args": {}}),
        ("DELETE", "/v1/tools/mcp/servers/private", None),
    ]:
        response = await b.request(method, path, json=json)
        assert response.status_code == 404, (path, response.text)

    # B may use the same name for a server of its own; A's is untouched.
    own = {"server_name": "private", "command": sys.executable, "args": [str(SERVER)]}
    assert len(await ok(b.put("/v1/tools/mcp/servers", json=own))) == 1
    assert await ok(a.get(f"/v1/mcp-servers/{server['id']}")) == server
    assert [t["id"] for t in await ok(a.get(f"/v1/mcp-servers/{server['id']}/tools"))] == [
        t["id"] for t in tools
    ]
