"""Letta's older ``/v1/tools/mcp/servers`` routes (by server name), which letta-code and
other Letta clients still call, against the test MCP server."""

import json
import sys
from typing import Any

import httpx

from tests.helpers import ok
from tests.mcp.conftest import SERVER, HTTPServer

BASE = "/v1/tools/mcp/servers"


def stdio(name: str = "local", **extra: Any) -> dict[str, Any]:
    return {"server_name": name, "command": sys.executable, "args": [str(SERVER)], **extra}


async def test_add_list_update_and_delete_by_name(
    client: httpx.AsyncClient, mcp_http: HTTPServer
) -> None:
    added = await ok(client.put(BASE, json={**stdio(), "type": "stdio"}))
    assert added == [
        {
            "server_name": "local",
            "type": "stdio",
            "command": sys.executable,
            "args": [str(SERVER)],
            "env": None,
        }
    ]
    remote = {
        "server_name": "remote",
        "type": "streamable_http",
        "server_url": mcp_http.url,
        "auth_header": "Authorization",
        "auth_token": "Bearer s3cret",
    }
    assert len(await ok(client.put(BASE, json=remote))) == 2
    # Without a type, a URL server is SSE, as in Letta.
    await ok(client.put(BASE, json={"server_name": "old", "server_url": "http://127.0.0.1:9/sse"}))

    servers = await ok(client.get(BASE))
    assert set(servers) == {"local", "remote", "old"}
    assert servers["remote"] == {**remote, "custom_headers": None}
    assert servers["old"]["type"] == "sse"

    patched = await ok(
        client.patch(f"{BASE}/remote", json={"server_url": mcp_http.url, "token": "n3w"})
    )
    assert patched["auth_token"] == "Bearer n3w"
    patched = await ok(client.patch(f"{BASE}/local", json={"stdio_config": stdio(env={"A": "1"})}))
    assert patched["env"] == {"A": "1"}

    left = await ok(client.delete(f"{BASE}/old"))
    assert [c["server_name"] for c in left] == ["local", "remote"]
    assert (await client.delete(f"{BASE}/old")).status_code == 404
    assert (await client.patch(f"{BASE}/old", json={})).status_code == 404
    # The same servers through the newer routes.
    assert [s["server_name"] for s in await ok(client.get("/v1/mcp-servers/"))] == [
        "local",
        "remote",
    ]


async def test_list_register_and_execute_tools_by_name(client: httpx.AsyncClient) -> None:
    await ok(client.put(BASE, json=stdio()))
    tools = await ok(client.get(f"{BASE}/local/tools"))
    by_name = {t["name"]: t for t in tools}
    assert set(by_name) >= {"add", "echo", "fail", "slow"}
    assert by_name["add"]["inputSchema"]["required"] == ["a", "b"]
    assert by_name["add"]["description"] == "Add two integers."

    registered = await ok(client.post(f"{BASE}/local/echo"))
    assert registered["name"] == "echo"
    assert registered["tool_type"] == "external_mcp"
    assert registered["metadata_"]["mcp"]["server_name"] == "local"
    missing = await client.post(f"{BASE}/local/nothing")
    assert missing.status_code == 400
    assert "available tools" in missing.json()["detail"]

    done = await ok(client.post(f"{BASE}/local/tools/add/execute", json={"args": {"a": 4, "b": 5}}))
    assert done == {"result": "9", "success": True}
    failed = await ok(client.post(f"{BASE}/local/tools/fail/execute", json={"args": {}}))
    assert failed["success"] is False
    assert "it always fails" in failed["result"]

    assert await ok(client.post(f"{BASE}/local/resync")) == {
        "deleted": [],
        "updated": [],
        "added": [],
    }
    assert (await client.get(f"{BASE}/nobody/tools")).status_code == 404

    # A second server with tools of the same names: none of them replaces the first's.
    await ok(client.put(BASE, json=stdio("twin")))
    twin = next(s for s in await ok(client.get("/v1/mcp-servers/")) if s["server_name"] == "twin")
    assert await ok(client.get(f"/v1/mcp-servers/{twin['id']}/tools")) == []
    taken = await client.post(f"{BASE}/twin/echo")
    assert taken.status_code == 409
    assert "already exists" in taken.json()["detail"]
    first = next(s for s in await ok(client.get("/v1/mcp-servers/")) if s["server_name"] == "local")
    echo = {t["name"]: t for t in await ok(client.get(f"/v1/mcp-servers/{first['id']}/tools"))}
    assert echo["echo"]["id"] == registered["id"]


async def test_test_and_connect_a_server_without_storing_it(client: httpx.AsyncClient) -> None:
    tested = await ok(client.post(f"{BASE}/test", json={**stdio("probe"), "type": "stdio"}))
    assert tested["status"] == "success"
    assert {t["name"] for t in tested["tools"]} >= {"add", "echo"}
    assert await ok(client.get(BASE)) == {}

    down = {"server_name": "down", "type": "streamable_http", "server_url": "http://127.0.0.1:9/"}
    response = await client.post(f"{BASE}/test", json=down)
    assert response.status_code == 502
    assert "down" in response.json()["detail"]

    async with client.stream("POST", f"{BASE}/connect", json=stdio("probe")) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = [
            json.loads(line.removeprefix("data: "))
            async for line in stream.aiter_lines()
            if line.startswith("data: ")
        ]
    assert events[0] == {"event": "connection_attempt", "server_name": "probe"}
    assert events[1]["event"] == "success"
    assert {t["name"] for t in events[1]["tools"]} >= {"add"}

    async with client.stream("POST", f"{BASE}/connect", json=down) as stream:
        lines = [line async for line in stream.aiter_lines() if line.startswith("data: ")]
    failed = json.loads(lines[-1].removeprefix("data: "))
    assert failed["event"] == "error"
    assert "down" in failed["message"]


async def test_connect_a_stored_server(client: httpx.AsyncClient) -> None:
    await ok(client.put(BASE, json=stdio()))
    server = (await ok(client.get("/v1/mcp-servers/")))[0]
    async with client.stream("GET", f"/v1/mcp-servers/connect/{server['id']}") as stream:
        lines = [line async for line in stream.aiter_lines() if line.startswith("data: ")]
    assert [json.loads(line[6:])["event"] for line in lines] == ["connection_attempt", "success"]
