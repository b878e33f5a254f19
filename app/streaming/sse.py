"""A run's stream as Server-Sent Events, the way Letta clients read them: ``data: {json}``
per event, errors as ``event: error``, a first ping carrying the run id, ``data: [DONE]``."""

import json
import uuid
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, get_args

from sse_starlette import EventSourceResponse, ServerSentEvent

from app.kit.db import utcnow
from app.kit.errors import AppError
from app.kit.observability import SSE_STREAMS_OPEN
from app.messages.convert import letta_date
from app.messages.schemas import MessageType
from app.runs.states import StopReason
from app.streaming.hub import DONE
from app.streaming.recorder import encode

_ERROR_MARK = '"message_type":"error_message"'
MESSAGE_TYPES = frozenset(get_args(MessageType))


def ping(run_id: str, seq_id: int | None = None) -> dict[str, Any]:
    return {
        "id": f"ping-{uuid.uuid4()}",
        "date": letta_date(utcnow()),
        "name": None,
        "message_type": "ping",
        "otid": None,
        "sender_id": None,
        "step_id": None,
        "is_err": None,
        "seq_id": seq_id,
        "run_id": run_id,
    }


def refusal(run_id: str, exc: AppError) -> list[str]:
    """A turn that could not start, told in its stream (status 200, as Letta streams do)."""
    error = {
        "message_type": "error_message",
        "run_id": run_id,
        "error_type": (exc.code or "internal_error").lower(),
        "message": exc.message,
        "detail": exc.body()["detail"],
    }
    return [
        encode({"message_type": "stop_reason", "stop_reason": StopReason.error}),
        encode(error),
        DONE,
    ]


def wanted(types: Iterable[str] | None) -> Callable[[str], bool]:
    """Which events a stream asked for with ``include_return_message_types``: messages of
    those types, and always ``stop_reason``, ``usage_statistics``, errors, pings and
    ``[DONE]``, as the JSON path filters only messages."""
    if not types:
        return lambda _text: True
    allowed = set(types)

    def keep(text: str) -> bool:
        if text == DONE:
            return True
        kind = json.loads(text).get("message_type")
        return kind not in MESSAGE_TYPES or kind in allowed

    return keep


def stream_response(
    events: AsyncIterator[tuple[int | None, str]],
    *,
    run_id: str,
    include_pings: bool,
    keepalive: float,
    send_timeout: float,
    types: Iterable[str] | None = None,
) -> EventSourceResponse:
    keep = wanted(types)

    async def generate() -> AsyncIterator[ServerSentEvent]:
        last: int | None = None
        SSE_STREAMS_OPEN.inc()
        try:
            if include_pings:
                yield ServerSentEvent(data=encode(ping(run_id)))
            async for seq, text in events:
                last = seq if seq is not None else last
                if not text:
                    if include_pings:
                        yield ServerSentEvent(data=encode(ping(run_id, last)))
                    continue
                if text == DONE:
                    yield ServerSentEvent(data=DONE)
                    return
                if keep(text):
                    error = _ERROR_MARK in text
                    yield ServerSentEvent(data=text, event="error" if error else None)
        finally:
            SSE_STREAMS_OPEN.dec()

    return EventSourceResponse(
        generate(),
        ping=keepalive,
        sep="\n",
        send_timeout=send_timeout,
        headers={"Cache-Control": "no-cache, no-transform"},
    )
