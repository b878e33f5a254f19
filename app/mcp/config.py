"""What connecting to one MCP server takes, read from its stored row.

Credentials are stored the way Letta stores them: the bare token (``auth_token`` without its
``Bearer `` prefix) in ``token``, custom headers as given. An ``auth_header`` other than
``Authorization`` (Letta keeps only that one) is kept in the row's metadata, so a server
that wants ``X-API-Key: <token>`` gets exactly that.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from app.mcp.models import MCPServer

AUTHORIZATION = "Authorization"
BEARER = "Bearer "
AUTH_HEADER_KEY = "auth_header"  # in the row's metadata, when not ``Authorization``
# Letta's templates in tokens and headers: ``{{ NAME }}`` or ``{{ NAME | default }}``.
TEMPLATE = re.compile(r"\{\{\s*([A-Z_][A-Z0-9_]*)\s*(?:\|\s*([^}]+?)\s*)?\}\}")


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


def fill(value: str, env: Mapping[str, str]) -> str:
    """``value`` with its templates filled from ``env`` (or their defaults); a value with a
    template that has neither is sent as written, as Letta does."""
    unresolved = False

    def one(match: re.Match[str]) -> str:
        nonlocal unresolved
        default: str | None = match.group(2)
        found = env.get(match.group(1), default)
        if found is None:
            unresolved = True
            return match.group(0)
        return found

    filled = TEMPLATE.sub(one, value)
    return value if unresolved else filled


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """One server's connection settings. Equal configurations share a session; a changed
    row (another ``revision``) gives an unequal one, so the pool reconnects with the new
    settings. Headers with templates are filled per call (``filled``): agents whose
    variables differ get sessions of their own."""

    server_id: str
    organization_id: str
    name: str
    transport: Transport
    revision: str = ""
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
                revision=_revision(row),
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
            revision=_revision(row),
            url=row.server_url,
            headers=tuple(sorted(headers.items())),
        )

    def filled(self, env: Mapping[str, str]) -> "ServerConfig":
        """The configuration with the templates of its headers filled from ``env``."""
        if not any("{{" in value for _, value in self.headers):
            return self
        return replace(self, headers=tuple((k, fill(v, env)) for k, v in self.headers))


def _revision(row: MCPServer) -> str:
    return row.updated_at.isoformat() if row.updated_at is not None else ""
