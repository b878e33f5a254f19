"""``/v1/mcp-servers`` and the older ``/v1/tools/mcp/servers`` routes Letta clients still call.

A route that talks to an MCP server answers 502 when it cannot be reached or refuses the
call, 504 when it does not answer in time (``SLEEPTIME_MCP_TIMEOUT_SECONDS``), and 400 for a
stdio server while those are disabled. A tool's own failure is a result (``status: error``),
not an error answer. Creating a stdio server is what makes this server run a command: like
every route here, it needs the organization's key.
"""

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import StreamingResponse

from app.auth.deps import ActorDep
from app.kit.errors import AppError
from app.kit.ids import MCPServerIdPath, ToolIdPath
from app.mcp.config import Transport, auth_header_of, auth_token_of, bare_token
from app.mcp.models import MCPServer
from app.mcp.pool import MCPFailure
from app.mcp.schemas import (
    ConnectionTestResponse,
    CreateMCPServerRequest,
    CreateStdioMCPServer,
    LegacyServerUpdate,
    MCPServerResponse,
    ResyncResult,
    ServerConfigBody,
    SSEMCPServer,
    SSEServerConfig,
    StdioMCPServer,
    StdioServerConfig,
    StreamableHTTPMCPServer,
    StreamableHTTPServerConfig,
    ToolExecuteResponse,
    ToolRunRequest,
    UpdateMCPServerRequest,
    UpdateStdioMCPServer,
    UpdateURLMCPServer,
)
from app.mcp.service import MCPService, Spec, http_error, replaced, url_spec
from app.mcp.tools import listed
from app.tools.models import Tool as ToolRow
from app.tools.schemas import ToolExecutionResult, ToolResponse

if TYPE_CHECKING:
    from mcp_types import Tool

router = APIRouter(prefix="/v1/mcp-servers", tags=["mcp-servers"])
legacy_router = APIRouter(prefix="/v1/tools/mcp", tags=["tools"])

T = TypeVar("T")
LegacyConfig = StdioServerConfig | SSEServerConfig | StreamableHTTPServerConfig


async def _service(request: Request) -> MCPService:
    service: MCPService = request.app.state.mcp
    return service


MCPDep = Annotated[MCPService, Depends(_service)]


async def _talking(call: Awaitable[T]) -> T:
    """Await a call that talks to an MCP server, answering its failures as HTTP errors."""
    try:
        return await call
    except MCPFailure as exc:
        raise http_error(exc) from exc


# --- shapes


def server_response(row: MCPServer) -> MCPServerResponse:
    if row.server_type == Transport.stdio:
        stdio: dict[str, Any] = row.stdio_config or {}
        return StdioMCPServer(
            id=row.id,
            server_name=row.server_name,
            command=str(stdio.get("command") or ""),
            args=list(stdio.get("args") or []),
            env=stdio.get("env"),
        )
    token = auth_token_of(row)
    fields: dict[str, Any] = {
        "id": row.id,
        "server_name": row.server_name,
        "server_url": row.server_url or "",
        "auth_header": auth_header_of(row) if token else None,
        "auth_token": token,
        "custom_headers": row.custom_headers,
    }
    if row.server_type == Transport.sse:
        return SSEMCPServer(**fields)
    return StreamableHTTPMCPServer(**fields)


def legacy_config(row: MCPServer) -> LegacyConfig:
    shown = server_response(row)
    if isinstance(shown, StdioMCPServer):
        return StdioServerConfig(
            server_name=row.server_name, command=shown.command, args=shown.args, env=shown.env
        )
    fields = shown.model_dump(exclude={"id", "mcp_server_type"})
    if isinstance(shown, SSEMCPServer):
        return SSEServerConfig(**fields)
    return StreamableHTTPServerConfig(**fields)


def tool_response(row: ToolRow) -> ToolResponse:
    return ToolResponse.of(row)


def spec_of_config(config: Any) -> Spec:
    """The spec of a create body's ``config``, or of an old-style server config."""
    if isinstance(config, CreateStdioMCPServer | StdioServerConfig):
        return Spec(Transport.stdio, command=config.command, args=config.args, env=config.env)
    transport = Transport(getattr(config, "mcp_server_type", None) or config.type)
    return url_spec(
        transport, config.server_url, config.auth_header, config.auth_token, config.custom_headers
    )


def updated_spec(current: Spec, config: UpdateStdioMCPServer | UpdateURLMCPServer) -> Spec:
    """``current`` with the fields the update sends (a field sent as null is cleared). A
    change of transport starts from an empty configuration of the new one."""
    given = {name: getattr(config, name) for name in config.model_fields_set}
    if isinstance(config, UpdateStdioMCPServer):
        base = current if current.transport is Transport.stdio else Spec(Transport.stdio)
        return replace(
            base,
            command=given.get("command") or base.command,
            args=base.args if given.get("args") is None else given["args"],
            env=given.get("env", base.env),
        )
    transport = Transport(config.mcp_server_type)
    base = current if current.transport is not Transport.stdio else Spec(transport)
    token = bare_token(given["auth_token"]) if "auth_token" in given else base.token
    return replace(
        base,
        transport=transport,
        url=given.get("server_url") or base.url,
        auth_header=given.get("auth_header") or base.auth_header,
        token=token,
        custom_headers=given.get("custom_headers", base.custom_headers),
    )


# --- /v1/mcp-servers


@router.post("/", response_model=MCPServerResponse)
async def create_mcp_server(
    body: CreateMCPServerRequest, actor: ActorDep, mcp: MCPDep
) -> MCPServerResponse:
    row = await mcp.create(actor.organization_id, body.server_name, spec_of_config(body.config))
    return server_response(row)


@router.get("/", response_model=list[MCPServerResponse])
async def list_mcp_servers(actor: ActorDep, mcp: MCPDep) -> list[MCPServerResponse]:
    return [server_response(row) for row in await mcp.list_servers(actor.organization_id)]


@router.get("/connect/{mcp_server_id}", response_model=None)
async def connect_mcp_server(
    mcp_server_id: MCPServerIdPath, actor: ActorDep, mcp: MCPDep
) -> StreamingResponse:
    server = await mcp.get(actor.organization_id, mcp_server_id)
    return _connect_stream(server.server_name, lambda: mcp.live_tools(server))


@router.get("/{mcp_server_id}", response_model=MCPServerResponse)
async def retrieve_mcp_server(
    mcp_server_id: MCPServerIdPath, actor: ActorDep, mcp: MCPDep
) -> MCPServerResponse:
    return server_response(await mcp.get(actor.organization_id, mcp_server_id))


@router.patch("/{mcp_server_id}", response_model=MCPServerResponse)
async def modify_mcp_server(
    mcp_server_id: MCPServerIdPath, body: UpdateMCPServerRequest, actor: ActorDep, mcp: MCPDep
) -> MCPServerResponse:
    spec = None
    if body.config is not None:
        current = Spec.of(await mcp.get(actor.organization_id, mcp_server_id))
        spec = updated_spec(current, body.config)
    row = await mcp.update(actor.organization_id, mcp_server_id, body.server_name, spec)
    return server_response(row)


@router.delete("/{mcp_server_id}", status_code=204)
async def delete_mcp_server(
    mcp_server_id: MCPServerIdPath, actor: ActorDep, mcp: MCPDep
) -> Response:
    await mcp.delete(actor.organization_id, mcp_server_id)
    return Response(status_code=204)


@router.get("/{mcp_server_id}/tools", response_model=list[ToolResponse])
async def list_mcp_server_tools(
    mcp_server_id: MCPServerIdPath, actor: ActorDep, mcp: MCPDep
) -> list[ToolResponse]:
    return [tool_response(row) for row in await mcp.tool_rows(actor.organization_id, mcp_server_id)]


@router.get("/{mcp_server_id}/tools/{tool_id}", response_model=ToolResponse)
async def retrieve_mcp_server_tool(
    mcp_server_id: MCPServerIdPath, tool_id: ToolIdPath, actor: ActorDep, mcp: MCPDep
) -> ToolResponse:
    return tool_response(await mcp.tool_row(actor.organization_id, mcp_server_id, tool_id))


@router.post("/{mcp_server_id}/tools/{tool_id}/run", response_model=ToolExecutionResult)
async def run_mcp_server_tool(
    mcp_server_id: MCPServerIdPath,
    tool_id: ToolIdPath,
    actor: ActorDep,
    mcp: MCPDep,
    body: ToolRunRequest | None = None,
) -> ToolExecutionResult:
    tool = await mcp.tool_row(actor.organization_id, mcp_server_id, tool_id)
    server = await mcp.get(actor.organization_id, mcp_server_id)
    args = body.args if body is not None else {}
    result = await _talking(mcp.call(server, tool.name, args))
    if result.status == "success":
        return ToolExecutionResult(status="success", func_return=result.text)
    return ToolExecutionResult(status="error", func_return=result.text)


@router.patch("/{mcp_server_id}/refresh", response_model=ResyncResult)
async def refresh_mcp_server_tools(
    mcp_server_id: MCPServerIdPath, actor: ActorDep, mcp: MCPDep, agent_id: str | None = None
) -> ResyncResult:
    server = await mcp.get(actor.organization_id, mcp_server_id)
    return await _talking(mcp.resync(actor.organization_id, server))


# --- /v1/tools/mcp/servers (Letta's older routes, by server name)


async def _all_configs(mcp: MCPService, organization_id: str) -> list[LegacyConfig]:
    return [legacy_config(row) for row in await mcp.list_servers(organization_id)]


@legacy_router.get("/servers", response_model=dict[str, LegacyConfig])
async def legacy_list_servers(actor: ActorDep, mcp: MCPDep) -> dict[str, LegacyConfig]:
    rows = await mcp.list_servers(actor.organization_id)
    return {row.server_name: legacy_config(row) for row in rows}


@legacy_router.put("/servers", response_model=list[LegacyConfig])
async def legacy_add_server(
    body: ServerConfigBody, actor: ActorDep, mcp: MCPDep
) -> list[LegacyConfig]:
    await mcp.create(actor.organization_id, body.server_name, spec_of_config(body))
    return await _all_configs(mcp, actor.organization_id)


@legacy_router.post("/servers/test", response_model=ConnectionTestResponse)
async def legacy_test_server(
    body: ServerConfigBody, actor: ActorDep, mcp: MCPDep
) -> ConnectionTestResponse:
    tools = await _talking(mcp.probe(body.server_name, spec_of_config(body)))
    return ConnectionTestResponse(tools=[listed(tool) for tool in tools])


@legacy_router.post("/servers/connect", response_model=None)
async def legacy_connect_server(
    body: ServerConfigBody, actor: ActorDep, mcp: MCPDep
) -> StreamingResponse:
    spec = spec_of_config(body)
    return _connect_stream(body.server_name, lambda: mcp.probe(body.server_name, spec))


@legacy_router.patch("/servers/{mcp_server_name}", response_model=LegacyConfig)
async def legacy_update_server(
    mcp_server_name: str, body: LegacyServerUpdate, actor: ActorDep, mcp: MCPDep
) -> LegacyConfig:
    server = await mcp.get_by_name(actor.organization_id, mcp_server_name)
    current = Spec.of(server)
    if current.transport is Transport.stdio:
        stdio = body.stdio_config
        spec = replaced(
            current,
            command=stdio.command if stdio else body.command,
            args=stdio.args if stdio else body.args,
            env=stdio.env if stdio else body.env,
        )
    else:
        token = body.auth_token if body.auth_token is not None else body.token
        spec = replaced(current, url=body.server_url, custom_headers=body.custom_headers)
        if token is not None:
            header = body.auth_header or current.auth_header
            spec = url_spec(spec.transport, spec.url, header, token, spec.custom_headers)
    row = await mcp.update(actor.organization_id, server.id, None, spec)
    return legacy_config(row)


@legacy_router.delete("/servers/{mcp_server_name}", response_model=list[LegacyConfig])
async def legacy_delete_server(
    mcp_server_name: str, actor: ActorDep, mcp: MCPDep
) -> list[LegacyConfig]:
    server = await mcp.get_by_name(actor.organization_id, mcp_server_name)
    await mcp.delete(actor.organization_id, server.id)
    return await _all_configs(mcp, actor.organization_id)


@legacy_router.get("/servers/{mcp_server_name}/tools", response_model=list[dict[str, Any]])
async def legacy_list_server_tools(
    mcp_server_name: str, actor: ActorDep, mcp: MCPDep
) -> list[dict[str, Any]]:
    server = await mcp.get_by_name(actor.organization_id, mcp_server_name)
    return [listed(tool) for tool in await _talking(mcp.live_tools(server))]


@legacy_router.post("/servers/{mcp_server_name}/resync", response_model=ResyncResult)
async def legacy_resync_server(
    mcp_server_name: str, actor: ActorDep, mcp: MCPDep, agent_id: str | None = None
) -> ResyncResult:
    server = await mcp.get_by_name(actor.organization_id, mcp_server_name)
    return await _talking(mcp.resync(actor.organization_id, server))


@legacy_router.post(
    "/servers/{mcp_server_name}/tools/{tool_name}/execute", response_model=ToolExecuteResponse
)
async def legacy_execute_tool(
    mcp_server_name: str,
    tool_name: str,
    actor: ActorDep,
    mcp: MCPDep,
    body: ToolRunRequest | None = None,
) -> ToolExecuteResponse:
    server = await mcp.get_by_name(actor.organization_id, mcp_server_name)
    args = body.args if body is not None else {}
    result = await _talking(mcp.call(server, tool_name, args))
    return ToolExecuteResponse(result=result.text, success=result.status == "success")


@legacy_router.post("/servers/{mcp_server_name}/{mcp_tool_name}", response_model=ToolResponse)
async def legacy_register_tool(
    mcp_server_name: str, mcp_tool_name: str, actor: ActorDep, mcp: MCPDep
) -> ToolResponse:
    server = await mcp.get_by_name(actor.organization_id, mcp_server_name)
    row = await _talking(mcp.register(actor.organization_id, server, mcp_tool_name))
    return tool_response(row)


# --- connection streams


def _event(event: str, **data: Any) -> str:
    return f"data: {json.dumps({'event': event, **data})}\n\n"


def _connect_stream(
    server_name: str, list_tools: Callable[[], Awaitable["list[Tool]"]]
) -> StreamingResponse:
    """Letta's connect stream without OAuth: an attempt, then success with the tools or an
    error saying why (a server that asks for OAuth gets an error naming its answer)."""

    async def events() -> AsyncIterator[str]:
        yield _event("connection_attempt", server_name=server_name)
        try:
            tools = await list_tools()
        except (MCPFailure, AppError) as exc:
            yield _event("error", message=getattr(exc, "message", str(exc)))
            return
        yield _event("success", tools=[listed(tool) for tool in tools])

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(events(), media_type="text/event-stream", headers=headers)
