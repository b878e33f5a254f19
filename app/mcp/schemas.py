"""Request and response shapes of the MCP routes, Letta's field names throughout.

``/v1/mcp-servers`` takes ``{server_name, config}`` with ``config.mcp_server_type`` naming the
transport and answers flat objects. The older ``/v1/tools/mcp/servers`` routes speak in
"server configs": flat objects whose ``type`` names the transport. Without the tag, a
configuration with a ``command`` is stdio; a URL one is streamable HTTP on the new routes and
SSE on the old ones, as in Letta.
"""

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from app.kit.schemas import RequestModel, ResponseModel

NonEmpty = Annotated[str, Field(min_length=1, max_length=255)]
Url = Annotated[str, Field(min_length=1, max_length=4096)]
Headers = dict[str, str]


def _tag(default_url_type: str, key: str) -> Any:
    def tag_of(value: Any) -> str:
        if isinstance(value, dict):
            given = value.get(key)
            if given is not None:
                return str(given)
            return "stdio" if "command" in value else default_url_type
        return str(getattr(value, key, default_url_type))

    return Discriminator(tag_of)


# /v1/mcp-servers: requests


class CreateStdioMCPServer(RequestModel):
    mcp_server_type: Literal["stdio"] = "stdio"
    command: NonEmpty
    args: list[str] = Field(default_factory=list)
    env: Headers | None = None


class CreateSSEMCPServer(RequestModel):
    mcp_server_type: Literal["sse"] = "sse"
    server_url: Url
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: Headers | None = None


class CreateStreamableHTTPMCPServer(RequestModel):
    mcp_server_type: Literal["streamable_http"] = "streamable_http"
    server_url: Url
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: Headers | None = None


CreateConfig = Annotated[
    Annotated[CreateStdioMCPServer, Tag("stdio")]
    | Annotated[CreateSSEMCPServer, Tag("sse")]
    | Annotated[CreateStreamableHTTPMCPServer, Tag("streamable_http")],
    _tag("streamable_http", "mcp_server_type"),
]


class CreateMCPServerRequest(RequestModel):
    server_name: NonEmpty
    config: CreateConfig


class UpdateStdioMCPServer(RequestModel):
    mcp_server_type: Literal["stdio"] = "stdio"
    command: NonEmpty | None = None
    args: list[str] | None = None
    env: Headers | None = None


class UpdateURLMCPServer(RequestModel):
    mcp_server_type: Literal["sse", "streamable_http"]
    server_url: Url | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: Headers | None = None


def _update_tag(value: Any) -> str:
    given = value.get("mcp_server_type") if isinstance(value, dict) else value.mcp_server_type
    if given is None and isinstance(value, dict):
        given = "stdio" if {"command", "args", "env"} & set(value) else "url"
    return "stdio" if given == "stdio" else "url"


UpdateConfig = Annotated[
    Annotated[UpdateStdioMCPServer, Tag("stdio")] | Annotated[UpdateURLMCPServer, Tag("url")],
    Discriminator(_update_tag),
]


class UpdateMCPServerRequest(RequestModel):
    server_name: NonEmpty | None = None
    config: UpdateConfig | None = None


class ToolRunRequest(RequestModel):
    args: dict[str, Any] = Field(default_factory=dict, description="Arguments for the tool.")


# /v1/mcp-servers: responses


class StdioMCPServer(ResponseModel):
    id: str
    server_name: str
    mcp_server_type: Literal["stdio"] = "stdio"
    command: str
    args: list[str]
    env: Headers | None = None


class SSEMCPServer(ResponseModel):
    id: str
    server_name: str
    mcp_server_type: Literal["sse"] = "sse"
    server_url: str
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: Headers | None = None


class StreamableHTTPMCPServer(ResponseModel):
    id: str
    server_name: str
    mcp_server_type: Literal["streamable_http"] = "streamable_http"
    server_url: str
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: Headers | None = None


MCPServerResponse = StdioMCPServer | SSEMCPServer | StreamableHTTPMCPServer


class ResyncResult(ResponseModel):
    deleted: list[str] = Field(default_factory=list)
    updated: list[str] = Field(default_factory=list)
    added: list[str] = Field(default_factory=list)


# /v1/tools/mcp/servers: server configs, in and out


class StdioServerConfig(RequestModel):
    server_name: NonEmpty
    type: Literal["stdio"] = "stdio"
    command: NonEmpty
    args: list[str] = Field(default_factory=list)
    env: Headers | None = None


class SSEServerConfig(RequestModel):
    server_name: NonEmpty
    type: Literal["sse"] = "sse"
    server_url: Url
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: Headers | None = None


class StreamableHTTPServerConfig(RequestModel):
    server_name: NonEmpty
    type: Literal["streamable_http"] = "streamable_http"
    server_url: Url
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: Headers | None = None


ServerConfigBody = Annotated[
    Annotated[StdioServerConfig, Tag("stdio")]
    | Annotated[SSEServerConfig, Tag("sse")]
    | Annotated[StreamableHTTPServerConfig, Tag("streamable_http")],
    _tag("sse", "type"),
]


class LegacyServerUpdate(RequestModel):
    """Letta's three update bodies in one: ``stdio_config`` for a stdio server; the URL,
    a token (``token``, or ``auth_header`` and ``auth_token``) and headers for the others."""

    stdio_config: StdioServerConfig | None = None
    command: NonEmpty | None = None
    args: list[str] | None = None
    env: Headers | None = None
    server_url: Url | None = None
    token: str | None = None
    auth_header: str | None = None
    auth_token: str | None = None
    custom_headers: Headers | None = None


class ToolExecuteResponse(ResponseModel):
    result: str
    success: bool


class ConnectionTestResponse(ResponseModel):
    status: Literal["success"] = "success"
    tools: list[dict[str, Any]]
