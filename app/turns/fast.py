"""The busiest request, a JSON turn (``POST /v1/agents/{agent_id}/messages``), answered
without FastAPI's per-request machinery.

FastAPI resolves a route's dependencies, reads its headers, decodes the body and validates
it again on every request, and that shows in a turn's profile beside the database. Here a
plain ASGI layer, inside the observability middleware (so the access line and the metrics are
the same), recognises the route, validates the body straight from its bytes with the route's
own model, and calls the same service the route calls. Anything it does not take on as is
(a streamed turn, a query string, a body that is not JSON or does not validate, a header out
of bounds) goes on to the route with its body replayed, so every refusal is FastAPI's own
(422 shapes included). Errors the turn raises go to the app's own exception handlers.
"""

import re
from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import TypeAdapter, ValidationError
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.auth.deps import resolve_actor
from app.kit.ids import Prefix, id_pattern
from app.messages.schemas import LettaRequest
from app.turns.endpoints import check_json_request, json_response, router, send_message

_PATH = re.compile(
    id_pattern(Prefix.agent).replace("^", r"^/v1/agents/(").replace("$", ")/messages$")
)
_BODY = TypeAdapter(LettaRequest)
_KEY_MAX = 255  # as the route's ``Idempotency-Key`` header declares
_ROUTE = next(r for r in router.routes if getattr(r, "endpoint", None) is send_message)

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]


def _json(content_type: bytes) -> bool:
    return content_type.split(b";", 1)[0].strip().lower() == b"application/json"


class JsonTurnFastPath:
    """Takes the JSON turns it can answer as the route would; passes on everything else."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["query_string"]:
            await self.app(scope, receive, send)
            return
        matched = _PATH.match(scope["path"])
        if matched is None:
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = {}
        for name, value in scope["headers"]:
            headers.setdefault(name.lower(), value)  # the first of a repeated header
        key = headers.get(b"idempotency-key")
        chunks: list[bytes] = []
        more = True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client has gone: nothing to answer
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        raw = b"".join(chunks)
        body = None
        if _json(headers.get(b"content-type", b"")) and (key is None or len(key) <= _KEY_MAX):
            try:
                body = _BODY.validate_json(raw)
            except ValidationError:
                body = None
        if body is None or body.streaming:
            await self.app(scope, _replay(raw, receive), send)
            return
        scope["route"] = _ROUTE  # the route template, for the access line and the metrics
        scope["path_params"] = {"agent_id": matched.group(1)}
        try:
            response = await self._turn(scope, headers, body, key)
        except Exception as exc:  # noqa: BLE001 (given to the app's handler, or raised on)
            response = await self._handled(scope, receive, exc)
        await response(scope, receive, send)

    async def _turn(
        self, scope: Scope, headers: dict[bytes, bytes], body: LettaRequest, key: bytes | None
    ) -> Response:
        state = scope["app"].state
        authorization = headers.get(b"authorization")
        actor = await resolve_actor(
            state.db,
            state.settings,
            None if authorization is None else authorization.decode("latin-1"),
        )
        check_json_request(body)
        idempotency_key = None if key is None else key.decode("latin-1")
        agent_id = scope["path_params"]["agent_id"]
        return json_response(
            await state.turns.send(actor, agent_id, body, idempotency_key=idempotency_key)
        )

    async def _handled(self, scope: Scope, receive: Receive, exc: Exception) -> Response:
        """The app's answer to ``exc``, as its exception middleware would give it."""
        handlers: dict[Any, Handler] = scope["app"].exception_handlers
        for cls in type(exc).__mro__:
            handler = handlers.get(cls)
            if handler is not None:
                answer = handler(Request(scope, receive), exc)
                if not isinstance(answer, Response):
                    answer = await answer
                return answer
        raise exc


def _replay(raw: bytes, receive: Receive) -> Receive:
    """``receive`` with the body already read given back first."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": raw, "more_body": False}
        return await receive()

    return replayed
