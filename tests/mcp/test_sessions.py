"""The process's MCP sessions: reused, reconnected when the server died, bounded in time,
closed at shutdown; and the runner a step calls MCP tools with, whose every failure is an
error result for the model."""

import asyncio
import os
import signal
from typing import Any

import httpx
from fastapi import FastAPI

from app.config import Settings
from app.kit.db import Database
from app.kit.ids import DEFAULT_ORG_ID
from app.main import create_app
from app.mcp.runner import run_mcp_tool
from app.mcp.service import MCPService
from app.tools.toolset import ExternalContext, ToolDef, ToolKind
from tests.conftest import AppFactory
from tests.helpers import ok
from tests.mcp.conftest import HTTPServer, stdio_config
from tests.mcp.test_mcp_servers import create, tools_of


async def run(client: httpx.AsyncClient, server: dict[str, Any], tool: str, **args: Any) -> Any:
    tools = await tools_of(client, server["id"])
    url = f"/v1/mcp-servers/{server['id']}/tools/{tools[tool]['id']}/run"
    return await client.post(url, json={"args": args})


async def pid_of(client: httpx.AsyncClient, server: dict[str, Any]) -> int:
    result = (await run(client, server, "pid")).json()
    assert result["status"] == "success", result
    return int(result["func_return"])


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_one_session_per_server_is_reused(client: httpx.AsyncClient) -> None:
    server = await create(client, "local", stdio_config())
    first = await pid_of(client, server)
    assert await pid_of(client, server) == first
    results = await asyncio.gather(*(run(client, server, "add", a=i, b=1) for i in range(5)))
    assert [r.json()["func_return"] for r in results] == [str(i + 1) for i in range(5)]
    assert await pid_of(client, server) == first


async def test_a_dead_stdio_server_is_started_again_by_the_next_call(
    client: httpx.AsyncClient,
) -> None:
    server = await create(client, "local", stdio_config())
    first = await pid_of(client, server)
    os.kill(first, signal.SIGKILL)
    second = await pid_of(client, server)  # one request: the broken session is replaced
    assert second != first
    assert await pid_of(client, server) == second


async def test_a_changed_configuration_gets_a_new_session(client: httpx.AsyncClient) -> None:
    server = await create(client, "local", stdio_config())
    first = await pid_of(client, server)
    await ok(client.patch(f"/v1/mcp-servers/{server['id']}", json={"config": stdio_config(X="1")}))
    assert await pid_of(client, server) != first
    assert gone(first) or await _exits(first)
    env = (await run(client, server, "env", name="X")).json()
    assert env["func_return"] == "1"


async def _exits(pid: int) -> bool:
    for _ in range(100):  # a failure guard; the old session is closed before the answer
        if gone(pid):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_stdio_server_does_not_inherit_the_servers_secrets(
    client: httpx.AsyncClient,
) -> None:
    os.environ["SLEEPTIME_TEST_SECRET"] = "do not leak"
    try:
        server = await create(client, "local", stdio_config())
        result = (await run(client, server, "env", name="SLEEPTIME_TEST_SECRET")).json()
    finally:
        del os.environ["SLEEPTIME_TEST_SECRET"]
    assert result["func_return"] == "<unset>"


async def test_a_call_that_takes_too_long_answers_504_and_the_session_lives_on(
    make_client: AppFactory,
) -> None:
    client = await make_client(mcp_timeout_seconds=1.0)
    server = await create(client, "local", stdio_config())
    slow = await run(client, server, "slow", seconds=60)
    assert slow.status_code == 504, slow.text
    assert "did not answer within 1s" in slow.json()["detail"]
    first = await pid_of(client, server)
    assert (await run(client, server, "add", a=1, b=1)).json()["func_return"] == "2"
    assert await pid_of(client, server) == first


async def test_a_server_that_never_answers_or_cannot_start_is_a_clear_error(
    make_client: AppFactory,
) -> None:
    client = await make_client(mcp_connect_timeout_seconds=1.0)
    silent = await create(client, "silent", {"command": "sleep", "args": ["30"]})
    response = await client.patch(f"/v1/mcp-servers/{silent['id']}/refresh")
    assert response.status_code == 504, response.text
    assert response.json()["detail"] == "no answer from MCP server 'silent' in 1s"

    missing = await create(client, "missing", {"command": "/nonexistent/mcp-server"})
    response = await client.patch(f"/v1/mcp-servers/{missing['id']}/refresh")
    assert response.status_code == 502, response.text
    detail = response.json()["detail"]
    assert detail.startswith("cannot connect to MCP server 'missing': ")
    assert "/nonexistent/mcp-server" in detail


async def test_sessions_end_with_the_process(settings: Settings, db: Database) -> None:
    app = create_app(settings)
    lifespan = app.router.lifespan_context(app)
    await lifespan.__aenter__()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            server = await create(client, "local", stdio_config())
            pid = await pid_of(client, server)
    finally:
        await lifespan.__aexit__(None, None, None)
    assert gone(pid)


# --- the runner a step calls


def tool_def(tool: dict[str, Any]) -> ToolDef:
    mcp = tool["metadata_"]["mcp"]
    return ToolDef(
        tool["id"],
        tool["name"],
        ToolKind.mcp,
        tool["tool_type"],
        tool["json_schema"],
        mcp_server_id=mcp["server_id"],
        mcp_server_name=mcp["server_name"],
    )


def context(app: FastAPI) -> ExternalContext:
    assert isinstance(app.state.mcp, MCPService)  # the app's runtime installed its runner
    return ExternalContext(DEFAULT_ORG_ID, None, None)


async def test_the_runner_gives_every_failure_to_the_model_as_an_error_result(
    make_app: Any,
) -> None:
    app, client = await make_app(mcp_timeout_seconds=1.0)
    ctx = context(app)
    server = await create(client, "local", stdio_config())
    tools = {name: tool_def(t) for name, t in (await tools_of(client, server["id"])).items()}

    result = await run_mcp_tool(ctx, tools["add"], {"a": 20, "b": 22})
    assert (result.status, result.text) == ("success", "42")

    result = await run_mcp_tool(ctx, tools["fail"], {"reason": "bad input"})
    assert result.status == "error"
    assert "bad input" in result.text

    result = await run_mcp_tool(ctx, tools["slow"], {"seconds": 60})
    assert result.status == "error"
    assert "did not answer within 1s" in result.text

    result = await run_mcp_tool(ctx, tools["add"], {"a": "not a number", "b": 1})
    assert result.status == "error"

    other_org = ExternalContext("org-11111111-1111-4111-8111-111111111111", None, None)
    result = await run_mcp_tool(other_org, tools["add"], {"a": 1, "b": 1})
    assert result.status == "error"
    assert "no longer exists" in result.text

    assert (await client.delete(f"/v1/mcp-servers/{server['id']}")).status_code == 204
    result = await run_mcp_tool(ctx, tools["add"], {"a": 1, "b": 1})
    assert result.status == "error"
    assert "no longer exists" in result.text


async def test_the_runner_on_a_server_that_cannot_be_reached(make_app: Any) -> None:
    app, client = await make_app()
    config = {"mcp_server_type": "streamable_http", "server_url": "http://127.0.0.1:9/mcp"}
    server = await create(client, "down", config)
    tool = ToolDef(
        "tool-00000000-0000-4000-8000-000000000000",
        "add",
        ToolKind.mcp,
        "external_mcp",
        {"name": "add", "parameters": {"type": "object", "properties": {}}},
        mcp_server_id=server["id"],
        mcp_server_name="down",
    )
    result = await run_mcp_tool(context(app), tool, {})
    assert result.status == "error"
    assert "MCP server 'down'" in result.text


async def test_header_templates_are_filled_from_the_agents_variables(
    make_app: Any, mcp_http: HTTPServer
) -> None:
    app, client = await make_app()
    config = {
        "mcp_server_type": "streamable_http",
        "server_url": mcp_http.url,
        "auth_token": "Bearer {{ MCP_TOKEN | anonymous }}",
        "custom_headers": {"X-Team": "{{ TEAM }}"},
    }
    server = await create(client, "remote", config)
    assert server["auth_token"] == "Bearer {{ MCP_TOKEN | anonymous }}"
    tools = {name: tool_def(t) for name, t in (await tools_of(client, server["id"])).items()}

    mcp_http.headers.clear()
    ctx = ExternalContext(DEFAULT_ORG_ID, None, None, env={"MCP_TOKEN": "s3cret", "TEAM": "a"})
    result = await run_mcp_tool(ctx, tools["echo"], {"text": "hi"})
    assert (result.status, result.text) == ("success", "hi")
    assert {h.get("authorization") for h in mcp_http.headers} == {"Bearer s3cret"}
    assert {h.get("x-team") for h in mcp_http.headers} == {"a"}

    # Without the variables: the default, and a template with none is sent as written.
    mcp_http.headers.clear()
    result = await run_mcp_tool(context(app), tools["echo"], {"text": "again"})
    assert result.text == "again"
    assert {h.get("authorization") for h in mcp_http.headers} == {"Bearer anonymous"}
    assert {h.get("x-team") for h in mcp_http.headers} == {"{{ TEAM }}"}
