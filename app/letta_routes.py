"""Letta 0.16.8's REST routes, and a 501 for each one this server does not serve.

A Letta client calling a route that exists in Letta but not here must not get a bare 404,
which reads as "wrong id". Every route of Letta's routers (v1, admin, auth), grouped in the
families of the README's compatibility table, that no route of this app answers (same method,
same path template) is registered to answer 501 ``NOT_SUPPORTED`` naming the route. Paths
Letta never had still answer 404.
"""

import re
from collections.abc import Awaitable, Callable, Iterable, Sequence

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from app.auth.deps import resolve_actor
from app.kit.schemas import refuse_unstorable_parameters

NOT_SUPPORTED = "NOT_SUPPORTED"

_AGENT = "/v1/agents/{agent_id}"

LETTA_ROUTES: dict[str, tuple[str, ...]] = {
    "health": ("GET /v1/health/", "GET /v1/ready/"),
    "agents": (
        "GET /v1/agents/",
        "POST /v1/agents/",
        "GET /v1/agents/count",
        f"GET {_AGENT}",
        f"PATCH {_AGENT}",
        f"DELETE {_AGENT}",
    ),
    "agents: export and import": (
        f"GET {_AGENT}/export",
        f"POST {_AGENT}/export",
        "POST /v1/agents/import",
    ),
    "agents: context and prompt": (
        f"GET {_AGENT}/context",
        f"POST {_AGENT}/recompile",
        f"POST {_AGENT}/system-prompt/recompile",
        f"POST {_AGENT}/messages/preview-raw-payload",
        f"POST {_AGENT}/summarize",
        f"POST {_AGENT}/generate",
    ),
    "agents: tools": (
        f"GET {_AGENT}/tools",
        f"PATCH {_AGENT}/tools/attach/{{tool_id}}",
        f"PATCH {_AGENT}/tools/detach/{{tool_id}}",
        f"PATCH {_AGENT}/tools/approval/{{tool_name}}",
        f"POST {_AGENT}/tools/{{tool_name}}/run",
    ),
    "agents: core memory": (
        f"GET {_AGENT}/core-memory",
        f"GET {_AGENT}/core-memory/blocks",
        f"GET {_AGENT}/core-memory/blocks/{{block_label}}",
        f"PATCH {_AGENT}/core-memory/blocks/{{block_label}}",
        f"PATCH {_AGENT}/core-memory/blocks/attach/{{block_id}}",
        f"PATCH {_AGENT}/core-memory/blocks/detach/{{block_id}}",
    ),
    "agents: messages": (
        f"GET {_AGENT}/messages",
        f"POST {_AGENT}/messages",
        f"POST {_AGENT}/messages/stream",
        f"POST {_AGENT}/messages/async",
        f"POST {_AGENT}/messages/cancel",
        f"PATCH {_AGENT}/messages/{{message_id}}",
        f"PATCH {_AGENT}/reset-messages",
        f"POST {_AGENT}/messages/capture",
        "POST /v1/agents/messages/search",
    ),
    "agents: groups": (f"GET {_AGENT}/groups",),
    "agents: archival memory": (
        f"GET {_AGENT}/archival-memory",
        f"POST {_AGENT}/archival-memory",
        f"GET {_AGENT}/archival-memory/search",
        f"DELETE {_AGENT}/archival-memory/{{memory_id}}",
        f"PATCH {_AGENT}/archives/attach/{{archive_id}}",
        f"PATCH {_AGENT}/archives/detach/{{archive_id}}",
    ),
    "agents: files, folders, sources": (
        f"GET {_AGENT}/sources",
        f"GET {_AGENT}/folders",
        f"GET {_AGENT}/files",
        f"PATCH {_AGENT}/sources/attach/{{source_id}}",
        f"PATCH {_AGENT}/sources/detach/{{source_id}}",
        f"PATCH {_AGENT}/folders/attach/{{folder_id}}",
        f"PATCH {_AGENT}/folders/detach/{{folder_id}}",
        f"PATCH {_AGENT}/files/close-all",
        f"PATCH {_AGENT}/files/{{file_id}}/open",
        f"PATCH {_AGENT}/files/{{file_id}}/close",
    ),
    "agents: identities": (
        f"PATCH {_AGENT}/identities/attach/{{identity_id}}",
        f"PATCH {_AGENT}/identities/detach/{{identity_id}}",
    ),
    "blocks": (
        "GET /v1/blocks/",
        "POST /v1/blocks/",
        "GET /v1/blocks/count",
        "GET /v1/blocks/{block_id}",
        "PATCH /v1/blocks/{block_id}",
        "DELETE /v1/blocks/{block_id}",
        "GET /v1/blocks/{block_id}/agents",
    ),
    "blocks: identities": (
        "PATCH /v1/blocks/{block_id}/identities/attach/{identity_id}",
        "PATCH /v1/blocks/{block_id}/identities/detach/{identity_id}",
    ),
    "groups": (
        "GET /v1/groups/",
        "POST /v1/groups/",
        "GET /v1/groups/count",
        "GET /v1/groups/{group_id}",
        "PATCH /v1/groups/{group_id}",
        "DELETE /v1/groups/{group_id}",
        "GET /v1/groups/{group_id}/messages",
        "PATCH /v1/groups/{group_id}/messages/{message_id}",
        "PATCH /v1/groups/{group_id}/reset-messages",
        "PATCH /v1/groups/{group_id}/blocks/attach/{block_id}",
        "PATCH /v1/groups/{group_id}/blocks/detach/{block_id}",
    ),
    "runs": (
        "GET /v1/runs/",
        "GET /v1/runs/active",
        "GET /v1/runs/{run_id}",
        "DELETE /v1/runs/{run_id}",
        "GET /v1/runs/{run_id}/messages",
        "GET /v1/runs/{run_id}/steps",
        "GET /v1/runs/{run_id}/usage",
        "GET /v1/runs/{run_id}/metrics",
        "GET /v1/runs/{run_id}/trace",
        "POST /v1/runs/{run_id}/stream",
    ),
    "models": ("GET /v1/models/", "GET /v1/models/embedding"),
    "tools": (
        "GET /v1/tools/",
        "GET /v1/tools/count",
        "GET /v1/tools/{tool_id}",
        "POST /v1/tools/",
        "PUT /v1/tools/",
        "PATCH /v1/tools/{tool_id}",
        "DELETE /v1/tools/{tool_id}",
        "POST /v1/tools/search",
        "POST /v1/tools/add-base-tools",
        "POST /v1/tools/generate-schema",
        "POST /v1/tools/generate-tool",
    ),
    "tools: MCP (old routes)": (
        "GET /v1/tools/mcp/servers",
        "PUT /v1/tools/mcp/servers",
        "PATCH /v1/tools/mcp/servers/{mcp_server_name}",
        "DELETE /v1/tools/mcp/servers/{mcp_server_name}",
        "GET /v1/tools/mcp/servers/{mcp_server_name}/tools",
        "POST /v1/tools/mcp/servers/{mcp_server_name}/resync",
        "POST /v1/tools/mcp/servers/{mcp_server_name}/{mcp_tool_name}",
        "POST /v1/tools/mcp/servers/{mcp_server_name}/tools/{tool_name}/execute",
        "POST /v1/tools/mcp/servers/test",
        "POST /v1/tools/mcp/servers/connect",
        "GET /v1/tools/mcp/oauth/callback",
    ),
    "tags": ("GET /v1/tags/",),
    "steps": (
        "GET /v1/steps/",
        "GET /v1/steps/{step_id}",
        "GET /v1/steps/{step_id}/metrics",
        "GET /v1/steps/{step_id}/trace",
        "GET /v1/steps/{step_id}/messages",
        "PATCH /v1/steps/{step_id}/feedback",
        "PATCH /v1/steps/{step_id}/transaction/{transaction_id}",
    ),
    "conversations": (
        "GET /v1/conversations/",
        "POST /v1/conversations/",
        "GET /v1/conversations/{conversation_id}",
        "PATCH /v1/conversations/{conversation_id}",
        "DELETE /v1/conversations/{conversation_id}",
        "POST /v1/conversations/{conversation_id}/fork",
        "GET /v1/conversations/{conversation_id}/messages",
        "POST /v1/conversations/{conversation_id}/messages",
        "POST /v1/conversations/{conversation_id}/messages/preview-raw-payload",
        "POST /v1/conversations/{conversation_id}/stream",
        "POST /v1/conversations/{conversation_id}/cancel",
        "POST /v1/conversations/{conversation_id}/recompile",
        "POST /v1/conversations/{conversation_id}/compact",
    ),
    "messages (all agents), batches": (
        "GET /v1/messages/",
        "GET /v1/messages/{message_id}",
        "POST /v1/messages/search",
        "GET /v1/messages/batches",
        "POST /v1/messages/batches",
        "GET /v1/messages/batches/{batch_id}",
        "GET /v1/messages/batches/{batch_id}/messages",
        "PATCH /v1/messages/batches/{batch_id}/cancel",
    ),
    "archives, passages": (
        "GET /v1/archives/",
        "POST /v1/archives/",
        "GET /v1/archives/{archive_id}",
        "PATCH /v1/archives/{archive_id}",
        "DELETE /v1/archives/{archive_id}",
        "GET /v1/archives/{archive_id}/agents",
        "POST /v1/archives/{archive_id}/passages",
        "POST /v1/archives/{archive_id}/passages/batch",
        "DELETE /v1/archives/{archive_id}/passages/{passage_id}",
        "POST /v1/passages/search",
        "GET /v1/embeddings/total_storage_size",
    ),
    "folders, sources": (
        "GET /v1/folders/",
        "POST /v1/folders/",
        "GET /v1/folders/count",
        "GET /v1/folders/metadata",
        "GET /v1/folders/name/{folder_name}",
        "GET /v1/folders/{folder_id}",
        "PATCH /v1/folders/{folder_id}",
        "DELETE /v1/folders/{folder_id}",
        "POST /v1/folders/{folder_id}/upload",
        "GET /v1/folders/{folder_id}/agents",
        "GET /v1/folders/{folder_id}/passages",
        "GET /v1/folders/{folder_id}/files",
        "GET /v1/folders/{folder_id}/files/{file_id}",
        "DELETE /v1/folders/{folder_id}/{file_id}",
        "GET /v1/sources/",
        "POST /v1/sources/",
        "GET /v1/sources/count",
        "GET /v1/sources/metadata",
        "GET /v1/sources/name/{source_name}",
        "GET /v1/sources/{source_id}",
        "PATCH /v1/sources/{source_id}",
        "DELETE /v1/sources/{source_id}",
        "POST /v1/sources/{source_id}/upload",
        "GET /v1/sources/{source_id}/agents",
        "GET /v1/sources/{source_id}/passages",
        "GET /v1/sources/{source_id}/files",
        "GET /v1/sources/{source_id}/files/{file_id}",
        "DELETE /v1/sources/{source_id}/{file_id}",
    ),
    "identities": (
        "GET /v1/identities/",
        "POST /v1/identities/",
        "PUT /v1/identities/",
        "GET /v1/identities/count",
        "GET /v1/identities/{identity_id}",
        "PATCH /v1/identities/{identity_id}",
        "DELETE /v1/identities/{identity_id}",
        "PUT /v1/identities/{identity_id}/properties",
        "GET /v1/identities/{identity_id}/agents",
        "GET /v1/identities/{identity_id}/blocks",
    ),
    "MCP servers": (
        "GET /v1/mcp-servers/",
        "POST /v1/mcp-servers/",
        "GET /v1/mcp-servers/connect/{mcp_server_id}",
        "GET /v1/mcp-servers/{mcp_server_id}",
        "PATCH /v1/mcp-servers/{mcp_server_id}",
        "DELETE /v1/mcp-servers/{mcp_server_id}",
        "PATCH /v1/mcp-servers/{mcp_server_id}/refresh",
        "GET /v1/mcp-servers/{mcp_server_id}/tools",
        "GET /v1/mcp-servers/{mcp_server_id}/tools/{tool_id}",
        "POST /v1/mcp-servers/{mcp_server_id}/tools/{tool_id}/run",
    ),
    "providers": (
        "GET /v1/providers/",
        "POST /v1/providers/",
        "POST /v1/providers/check",
        "GET /v1/providers/{provider_id}",
        "PATCH /v1/providers/{provider_id}",
        "DELETE /v1/providers/{provider_id}",
        "POST /v1/providers/{provider_id}/check",
        "PATCH /v1/providers/{provider_id}/refresh",
    ),
    "sandbox config": (
        "GET /v1/sandbox-config/",
        "POST /v1/sandbox-config/",
        "POST /v1/sandbox-config/e2b/default",
        "POST /v1/sandbox-config/local/default",
        "POST /v1/sandbox-config/local",
        "POST /v1/sandbox-config/local/recreate-venv",
        "PATCH /v1/sandbox-config/{sandbox_config_id}",
        "DELETE /v1/sandbox-config/{sandbox_config_id}",
        "GET /v1/sandbox-config/{sandbox_config_id}/environment-variable",
        "POST /v1/sandbox-config/{sandbox_config_id}/environment-variable",
        "PATCH /v1/sandbox-config/environment-variable/{env_var_id}",
        "DELETE /v1/sandbox-config/environment-variable/{env_var_id}",
    ),
    "jobs": (
        "GET /v1/jobs/",
        "GET /v1/jobs/active",
        "GET /v1/jobs/{job_id}",
        "PATCH /v1/jobs/{job_id}/cancel",
        "DELETE /v1/jobs/{job_id}",
    ),
    "telemetry": ("GET /v1/telemetry/{step_id}",),
    "chat completions, voice": (
        "POST /v1/chat/completions",
        "POST /v1/voice-beta/{agent_id}/chat/completions",
    ),
    "provider proxies": (
        "POST /v1/anthropic/v1/messages",
        *(f"{m} /v1/anthropic/v1/{{endpoint:path}}" for m in ("GET", "POST", "PUT", "DELETE")),
        "PATCH /v1/anthropic/v1/{endpoint:path}",
        "POST /v1/zai/v1/messages",
        *(f"{m} /v1/zai/v1/{{endpoint:path}}" for m in ("GET", "POST", "PUT", "DELETE", "PATCH")),
    ),
    "git over HTTP": tuple(
        f"{m} /v1/git/{{path:path}}"
        for m in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS")
    ),
    "admin: users, organizations": (
        *(f"{m} /v1/admin/users/" for m in ("GET", "POST", "PUT", "DELETE")),
        *(f"{m} /v1/admin/orgs/" for m in ("GET", "POST", "PATCH", "DELETE")),
    ),
    "auth": ("POST /v1/auth",),
    "internal": (
        "GET /v1/_internal_agents/count",
        "PATCH /v1/_internal_agents/{agent_id}/core-memory/blocks/{block_label}",
        "GET /v1/_internal_blocks/",
        "POST /v1/_internal_blocks/",
        "DELETE /v1/_internal_blocks/{block_id}",
        "GET /v1/_internal_blocks/{block_id}/agents",
        "GET /v1/_internal_runs/",
        "POST /v1/_internal_search/cache-warm",
        "POST /v1/_internal_templates/groups",
        "POST /v1/_internal_templates/agents",
        "POST /v1/_internal_templates/blocks",
        "POST /v1/_internal_templates/blocks/batch",
        "GET /v1/_internal_templates/deployment/{deployment_id}",
        "DELETE /v1/_internal_templates/deployment/{deployment_id}",
    ),
}

_PARAM = re.compile(r"\{[^}]*\}")


def _shape(path: str) -> str:
    """A template with its parameters unnamed and no trailing slash, for comparing routes."""
    return _PARAM.sub("{}", path).rstrip("/")


def _specific_first(path: str) -> tuple[int, ...]:
    """Literal segments sort ahead of parameters, so ``/v1/messages/batches`` is tried before
    ``/v1/messages/{message_id}`` would capture it."""
    return tuple(int(segment.startswith("{")) for segment in path.split("/"))


def _sample(path: str) -> str:
    """A concrete path of a template, to see which served route would capture it."""
    return _PARAM.sub("x", path)


def _served(routers: Iterable[APIRouter]) -> list[APIRoute]:
    return [r for router in routers for r in router.routes if isinstance(r, APIRoute)]


def unsupported(routers: Iterable[APIRouter]) -> list[tuple[str, str, str]]:
    """(family, method, path) of every Letta route that no route of ``routers`` answers."""
    served = {(m, _shape(r.path)) for r in _served(routers) for m in r.methods or ()}
    return [
        (family, method, path)
        for family, routes in LETTA_ROUTES.items()
        for method, path in (route.split(" ", 1) for route in routes)
        if (method, _shape(path)) not in served
    ]


def _not_supported(method: str, path: str) -> Callable[[Request], Awaitable[JSONResponse]]:
    """A plain Starlette endpoint, not a FastAPI route: it takes no parameters, and building
    FastAPI's dependency and validation machinery for some 400 such routes was a fifth of
    the server's start-up. It checks what a FastAPI route here would (the app-wide U+0000
    check, then the caller's key) in the same order, then answers 501."""
    route = f"{method} {path}"

    async def endpoint(request: Request) -> JSONResponse:
        await refuse_unstorable_parameters(request)
        state = request.app.state
        await resolve_actor(state.db, state.settings, request.headers.get("authorization"))
        body = {
            "code": NOT_SUPPORTED,
            "message": f"{route} is a Letta API route that this server does not support.",
            "route": route,
        }
        # A 5xx would be retried by the SDKs; this answer will not change.
        return JSONResponse({"detail": body}, status_code=501, headers={"x-should-retry": "false"})

    return endpoint


def not_supported_routers(routers: Sequence[APIRouter]) -> tuple[APIRouter, APIRouter]:
    """Routers answering 501 on Letta's routes that ``routers`` do not serve: the first goes
    ahead of ``routers``, for the routes one of ours would capture (Letta's
    ``/v1/runs/active`` would reach our ``/v1/runs/{run_id}``); the second goes after them,
    so it never shadows a served route."""
    ours = _served(routers)
    first, last = APIRouter(), APIRouter()
    for _family, method, path in sorted(unsupported(routers), key=lambda r: _specific_first(r[2])):
        sample = _sample(path)
        captured = any(method in (r.methods or ()) and r.path_regex.match(sample) for r in ours)
        router = first if captured else last
        for variant in dict.fromkeys((path, path.rstrip("/") or path)):
            router.add_route(
                variant, _not_supported(method, path), methods=[method], include_in_schema=False
            )
    return first, last
