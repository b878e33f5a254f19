"""The OpenAPI document, with the error answers each route really gives.

FastAPI declares only a route's success and its 422. Generated clients and schema-driven
tests trust the document, so every error a route can answer is declared with its body:
``{"detail": ...}`` (a message, or ``{code, message, ...}`` for coded errors, see
``app.kit.errors``). What each route can answer follows from how it is built: every ``/v1``
route authenticates (401), reads ids it may not find (404), checks state it may conflict
with (400, 409) and needs the database (503); routes that run a turn also answer what its
model provider failed with (429, 502, 504); the model listing answers 502 when no provider
can list; MCP routes answer 502 and 504 for an MCP server that failed or timed out. A 500 is
declared everywhere: it is a bug, but its shape is still a promise.
"""

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

ERROR_BODY = "ErrorBody"
_ERROR_SCHEMA: dict[str, Any] = {
    "title": ERROR_BODY,
    "type": "object",
    "properties": {
        "detail": {
            "title": "Detail",
            "anyOf": [{"type": "string"}, {"type": "object"}, {"type": "array"}],
        },
    },
    "required": ["detail"],
}
_DESCRIPTIONS = {
    400: "Bad request",
    401: "Missing or invalid API key",
    404: "Not found",
    409: "Conflicts with the current state (e.g. AGENT_BUSY, PENDING_APPROVAL)",
    422: "Validation error",
    429: "The model provider is rate limiting",
    500: "Internal error",
    502: "The model provider (or the MCP server) failed",
    503: "The database is unavailable",
    504: "The model provider (or the MCP server) timed out",
}
# Success answers that are not JSON (FastAPI declares every 200 as JSON).
_STREAMS = ("/messages/stream", "/runs/{run_id}/stream")
# Letta's MCP connect streams: events of JSON objects (``{"event": ..., ...}``).
_EVENT_STREAMS = ("/mcp/servers/connect", "/connect/{mcp_server_id}")
_TURN_ROUTES = ("/messages", "/messages/stream", "/messages/async", "/create-stream")


def _error_codes(path: str, method: str) -> set[int]:
    codes = {422, 500, 503}
    if path.startswith("/v1/"):
        codes |= {400, 401, 404, 409}
    if path.endswith(_TURN_ROUTES) and method == "post":
        codes |= {429, 502, 504}
    if path.startswith("/v1/models"):
        codes.add(502)
    if path.startswith(("/v1/mcp-servers", "/v1/tools/mcp")):
        codes |= {502, 504}  # routes that talk to an MCP server
    return codes


def _success_content(path: str, method: str, responses: dict[str, Any]) -> None:
    """Declare the media types a 200 really has: Prometheus text for ``/metrics``; SSE for
    the streaming routes and for ``/messages`` with ``streaming: true`` (JSON otherwise)."""
    ok = responses.get("200")
    if ok is None:
        return
    sse = {"text/event-stream": {"schema": {"type": "string"}}}
    if path == "/metrics":
        ok["content"] = {"text/plain": {"schema": {"type": "string"}}}
    elif path.endswith(_STREAMS):
        ok["content"] = sse
    elif path.endswith(_EVENT_STREAMS):
        ok["content"] = {"text/event-stream": {"schema": {}}}
    elif path.endswith("/messages") and method == "post":
        ok.setdefault("content", {}).update(sse)


def _declare(operation: dict[str, Any], codes: set[int]) -> None:
    responses = operation.setdefault("responses", {})
    ref = {"$ref": f"#/components/schemas/{ERROR_BODY}"}
    for code in sorted(codes):
        responses.setdefault(
            str(code),
            {"description": _DESCRIPTIONS[code], "content": {"application/json": {"schema": ref}}},
        )
    if "422" in responses:
        # The request validator's list, or a coded 422 raised by a service (block limit).
        validation = {"$ref": "#/components/schemas/HTTPValidationError"}
        responses["422"]["content"]["application/json"]["schema"] = {"anyOf": [validation, ref]}


def install_openapi(app: FastAPI) -> None:
    """Replace ``app.openapi`` with one that declares each route's error answers."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = get_openapi(title=app.title, version=app.version, routes=app.routes)
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components[ERROR_BODY] = _ERROR_SCHEMA
        components.setdefault("HTTPValidationError", _validation_schema(components))
        for path, path_item in schema.get("paths", {}).items():
            for method, operation in path_item.items():
                _declare(operation, _error_codes(path, method))
                _success_content(path, method, operation["responses"])
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _validation_schema(components: dict[str, Any]) -> dict[str, Any]:
    """FastAPI's ``HTTPValidationError``, for documents where no route declared it yet."""
    components.setdefault(
        "ValidationError",
        {
            "title": "ValidationError",
            "type": "object",
            "properties": {
                "loc": {
                    "type": "array",
                    "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                },
                "msg": {"type": "string"},
                "type": {"type": "string"},
            },
            "required": ["loc", "msg", "type"],
        },
    )
    return {
        "title": "HTTPValidationError",
        "type": "object",
        "properties": {
            "detail": {"type": "array", "items": {"$ref": "#/components/schemas/ValidationError"}}
        },
    }
