"""What connecting to one MCP server takes, read from its stored row.

Credentials are stored the way Letta stores them: the bare token (``auth_token`` without its
``Bearer `` prefix) in ``token``, custom headers as given. An ``auth_header`` other than
``Authorization`` (Letta keeps only that one) is kept in the row's metadata, so a server
that wants ``X-API-Key: <token>`` gets exactly that.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.mcp.models import MCPServer

AUTHORIZATION = "Authorization"
BEARER = "Bearer "
AUTH_HEADER_KEY = "auth_header"  # in the row's metadata, when not ``Authorization``


class Transport(StrEnum):
    stdio = "stdio"
    sse = "sse"
    streamable_http = "streamable_http"


def bare_token(auth_token: str | None) -> str | None:
    """The token as stored: without the ``Bearer `` prefix Letta's clients send."""
    if auth_token is None:
        return None
    return auth_token.removeprefix(BEARER) if auth_token.startswith(BEARER) else auth_token


def auth_header_of(row: MCPServer) -> str:
    name = (row.metadata_ or {}).get(AUTH_HEADER_KEY)
    return name if isinstance(name, str) and name else AUTHORIZATION


def auth_token_of(row: MCPServer) -> str | None:
    """The ``auth_token`` shown for the row (Letta shows ``Bearer <token>``)."""
    if not row.token:
        return None
    bearer = auth_header_of(row).lower() == AUTHORIZATION.lower()
    return f"{BEARER}{row.token}" if bearer else row.token


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One server's connection settings. Equal configurations share a session; a changed
    row gives an unequal one, so the pool reconnects with the new settings."""

    server_id: str
    organization_id: str
    name: str
    transport: Transport
    command: str | None = None
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    url: str | None = None
    headers: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, row: MCPServer) -> "ServerConfig":
        transport = Transport(row.server_type)
        if transport is Transport.stdio:
            stdio: dict[str, Any] = row.stdio_config or {}
            return cls(
                row.id,
                row.organization_id,
                row.server_name,
                transport,
                command=str(stdio.get("command") or ""),
                args=tuple(str(a) for a in stdio.get("args") or ()),
                env=tuple(sorted((stdio.get("env") or {}).items())),
            )
        headers = dict(row.custom_headers or {})
        token = auth_token_of(row)
        if token is not None:
            headers[auth_header_of(row)] = token
        return cls(
            row.id,
            row.organization_id,
            row.server_name,
            transport,
            url=row.server_url,
            headers=tuple(sorted(headers.items())),
        )
