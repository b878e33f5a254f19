"""The official ``letta-client`` SDK's ``mcp_servers`` resource against this server and the
test MCP server."""

import sys

import pytest
from letta_client import AsyncLetta, NotFoundError
from letta_client.types import StdioMcpServer, StreamableHTTPMcpServer

from tests.conftest import AppFactory
from tests.mcp.conftest import SERVER, HTTPServer


@pytest.fixture
async def sdk(make_client: AppFactory) -> AsyncLetta:
    http = await make_client()
    return AsyncLetta(base_url="http://testserver", http_client=http, max_retries=0)


async def test_the_sdk_manages_mcp_servers_and_runs_their_tools(
    sdk: AsyncLetta, mcp_http: HTTPServer
) -> None:
    local = await sdk.mcp_servers.create(
        server_name="local",
        config={"mcp_server_type": "stdio", "command": sys.executable, "args": [str(SERVER)]},
    )
    assert isinstance(local, StdioMcpServer)
    assert local.id is not None and local.command == sys.executable
    remote = await sdk.mcp_servers.create(
        server_name="remote",
        config={"mcp_server_type": "streamable_http", "server_url": mcp_http.url},
    )
    assert isinstance(remote, StreamableHTTPMcpServer)
    assert [s.server_name for s in await sdk.mcp_servers.list()] == ["local", "remote"]
    assert local.id is not None and remote.id is not None

    tools = {t.name: t for t in await sdk.mcp_servers.tools.list(local.id)}
    assert {"add", "echo", "fail"} <= set(tools)
    add_id = tools["add"].id
    assert add_id is not None
    assert (await sdk.mcp_servers.tools.retrieve(add_id, mcp_server_id=local.id)).name == "add"
    result = await sdk.mcp_servers.tools.run(add_id, mcp_server_id=local.id, args={"a": 1, "b": 2})
    assert (result.status, result.func_return) == ("success", "3")

    renamed = await sdk.mcp_servers.update(
        remote.id,
        server_name="renamed",
        config={"mcp_server_type": "streamable_http", "server_url": mcp_http.url},
    )
    assert renamed.server_name == "renamed"
    assert await sdk.mcp_servers.refresh(local.id) == {"deleted": [], "updated": [], "added": []}

    await sdk.mcp_servers.delete(local.id)
    with pytest.raises(NotFoundError):
        await sdk.mcp_servers.retrieve(local.id)
    assert [s.server_name for s in await sdk.mcp_servers.list()] == ["renamed"]
