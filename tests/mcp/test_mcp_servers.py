"""``/v1/mcp-servers`` against a real MCP server: the test server started over stdio by the
pool from the stored configuration, and the same server over streamable HTTP."""

from typing import Any

import httpx

from tests.conftest import AppFactory
from tests.helpers import ok
from tests.mcp.conftest import HTTPServer, stdio_config

TOOLS = {"add", "echo", "fail", "slow", "pid", "env"}


async def create(client: httpx.AsyncClient, name: str, config: dict[str, Any]) -> dict[str, Any]:
    body = {"server_name": name, "config": config}
    return await ok(client.post("/v1/mcp-servers/", json=body))  # type: ignore[no-any-return]


async def tools_of(client: httpx.AsyncClient, server_id: str) -> dict[str, dict[str, Any]]:
    listed = await ok(client.get(f"/v1/mcp-servers/{server_id}/tools"))
    return {tool["name"]: tool for tool in listed}


async def test_a_stdio_server_is_stored_and_its_tools_registered(
    client: httpx.AsyncClient,
) -> None:
    server = await create(client, "local", stdio_config())
    assert server["id"].startswith("mcp_server-")
    assert server["server_name"] == "local"
    assert server["mcp_server_type"] == "stdio"
    assert server["args"] == stdio_config()["args"]

    tools = await tools_of(client, server["id"])
    assert set(tools) == TOOLS
    add = tools["add"]
    assert add["tool_type"] == "external_mcp"
    assert add["tags"] == ["mcp:local"]
    assert add["metadata_"] == {"mcp": {"server_name": "local", "server_id": server["id"]}}
    assert add["json_schema"]["name"] == "add"
    assert add["json_schema"]["description"] == "Add two integers."
    assert add["json_schema"]["parameters"]["required"] == ["a", "b"]
    assert add["json_schema"]["parameters"]["properties"]["a"]["type"] == "integer"

    one = await ok(client.get(f"/v1/mcp-servers/{server['id']}/tools/{add['id']}"))
    assert one == add
    # The registered tools are the organization's tools.
    assert await ok(client.get(f"/v1/tools/{add['id']}")) == add


async def test_list_retrieve_rename_and_delete(client: httpx.AsyncClient) -> None:
    first = await create(client, "first", stdio_config())
    second = await create(
        client,
        "second",
        {"mcp_server_type": "sse", "server_url": "http://127.0.0.1:9/sse", "auth_token": "t0k"},
    )
    listed = await ok(client.get("/v1/mcp-servers/"))
    assert [s["id"] for s in listed] == [first["id"], second["id"]]
    got = await ok(client.get(f"/v1/mcp-servers/{second['id']}"))
    assert got == {
        "id": second["id"],
        "server_name": "second",
        "mcp_server_type": "sse",
        "server_url": "http://127.0.0.1:9/sse",
        "auth_header": "Authorization",
        "auth_token": "Bearer t0k",
        "custom_headers": None,
    }

    renamed = await ok(
        client.patch(f"/v1/mcp-servers/{first['id']}", json={"server_name": "renamed"})
    )
    assert renamed["server_name"] == "renamed"
    tools = await tools_of(client, first["id"])
    assert tools["echo"]["metadata_"]["mcp"]["server_name"] == "renamed"
    assert tools["echo"]["tags"] == ["mcp:renamed"]

    taken = await client.patch(f"/v1/mcp-servers/{first['id']}", json={"server_name": "second"})
    assert taken.status_code == 409, taken.text

    echo_id = tools["echo"]["id"]
    assert (await client.delete(f"/v1/mcp-servers/{first['id']}")).status_code == 204
    assert (await client.get(f"/v1/mcp-servers/{first['id']}")).status_code == 404
    assert (await client.get(f"/v1/tools/{echo_id}")).status_code == 404
    assert (await client.get(f"/v1/mcp-servers/{first['id']}/tools")).status_code == 404
    assert (await client.delete(f"/v1/mcp-servers/{first['id']}")).status_code == 404
    assert [s["id"] for s in await ok(client.get("/v1/mcp-servers/"))] == [second["id"]]


async def test_bad_configurations_are_refused(client: httpx.AsyncClient) -> None:
    bad = [
        {"server_name": "x", "config": {"mcp_server_type": "stdio"}},
        {"server_name": "x", "config": {"mcp_server_type": "gopher", "server_url": "x"}},
        {"server_name": "", "config": stdio_config()},
        {"config": stdio_config()},
    ]
    for body in bad:
        response = await client.post("/v1/mcp-servers/", json=body)
        assert response.status_code == 422, (body, response.text)
    not_a_url = {"mcp_server_type": "streamable_http", "server_url": "ftp://example.com"}
    response = await client.post("/v1/mcp-servers/", json={"server_name": "x", "config": not_a_url})
    assert response.status_code == 400
    assert "server_url" in response.json()["detail"]
    await create(client, "dup", stdio_config())
    again = await client.post("/v1/mcp-servers/", json={"server_name": "dup", "config": {}})
    assert again.status_code == 422  # a config without a command or a URL
    again = await client.post(
        "/v1/mcp-servers/", json={"server_name": "dup", "config": stdio_config()}
    )
    assert again.status_code == 409
    assert again.json()["detail"]["code"] == "MCPServerNameAlreadyExistsError"
    assert len(await ok(client.get("/v1/mcp-servers/"))) == 1


async def test_run_a_tool(client: httpx.AsyncClient) -> None:
    server = await create(client, "local", stdio_config())
    tools = await tools_of(client, server["id"])
    base = f"/v1/mcp-servers/{server['id']}/tools"

    result = await ok(
        client.post(f"{base}/{tools['add']['id']}/run", json={"args": {"a": 2, "b": 3}})
    )
    assert result["status"] == "success"
    assert result["func_return"] == "5"

    failed = await ok(
        client.post(f"{base}/{tools['fail']['id']}/run", json={"args": {"reason": "no luck"}})
    )
    assert failed["status"] == "error"
    assert failed["func_return"] == "Error executing tool fail: no luck"

    unknown = "tool-00000000-0000-4000-8000-000000000000"
    assert (await client.post(f"{base}/{unknown}/run", json={})).status_code == 404


async def test_refresh_follows_the_servers_tools(client: httpx.AsyncClient) -> None:
    server = await create(client, "local", stdio_config())
    url = f"/v1/mcp-servers/{server['id']}"
    assert await ok(client.patch(f"{url}/refresh")) == {"deleted": [], "updated": [], "added": []}

    # The same server, now started with a seventh tool.
    config = stdio_config(SLEEPTIME_TEST_MCP_EXTRA_TOOL="seventh")
    patched = await ok(client.patch(url, json={"config": config}))
    assert patched["env"] == {"SLEEPTIME_TEST_MCP_EXTRA_TOOL": "seventh"}
    assert await ok(client.patch(f"{url}/refresh")) == {
        "deleted": [],
        "updated": [],
        "added": ["seventh"],
    }
    assert set(await tools_of(client, server["id"])) == {*TOOLS, "seventh"}

    await ok(client.patch(url, json={"config": stdio_config()}))
    assert await ok(client.patch(f"{url}/refresh")) == {
        "deleted": ["seventh"],
        "updated": [],
        "added": [],
    }


async def test_streamable_http_server(client: httpx.AsyncClient, mcp_http: HTTPServer) -> None:
    config = {
        "mcp_server_type": "streamable_http",
        "server_url": mcp_http.url,
        "auth_header": "X-API-Key",
        "auth_token": "k3y",
        "custom_headers": {"X-Tenant": "acme"},
    }
    mcp_http.headers.clear()
    server = await create(client, "remote", config)
    assert server["auth_header"] == "X-API-Key"
    assert server["auth_token"] == "k3y"
    assert server["custom_headers"] == {"X-Tenant": "acme"}
    tools = await tools_of(client, server["id"])
    assert set(tools) == TOOLS
    assert mcp_http.headers
    assert all(
        h.get("x-api-key") == "k3y" and h.get("x-tenant") == "acme" for h in mcp_http.headers
    )

    run = f"/v1/mcp-servers/{server['id']}/tools/{tools['echo']['id']}/run"
    result = await ok(client.post(run, json={"args": {"text": "over http"}}))
    assert result == {
        "status": "success",
        "func_return": "over http",
        "agent_state": None,
        "stdout": None,
        "stderr": None,
        "sandbox_config_fingerprint": None,
    }


async def test_an_unreachable_server_is_stored_and_calls_to_it_answer_502(
    client: httpx.AsyncClient,
) -> None:
    config = {"mcp_server_type": "streamable_http", "server_url": "http://127.0.0.1:9/mcp"}
    server = await create(client, "down", config)
    assert await ok(client.get(f"/v1/mcp-servers/{server['id']}/tools")) == []
    response = await client.patch(f"/v1/mcp-servers/{server['id']}/refresh")
    assert response.status_code == 502, response.text
    assert "down" in response.json()["detail"]


async def test_stdio_servers_can_be_disabled(make_client: AppFactory, mcp_http: HTTPServer) -> None:
    client = await make_client(mcp_stdio=False)
    response = await client.post(
        "/v1/mcp-servers/", json={"server_name": "local", "config": stdio_config()}
    )
    assert response.status_code == 400
    assert "SLEEPTIME_MCP_STDIO" in response.json()["detail"]
    config = {"mcp_server_type": "streamable_http", "server_url": mcp_http.url}
    await create(client, "remote", config)
    assert [s["server_name"] for s in await ok(client.get("/v1/mcp-servers/"))] == ["remote"]
