"""A run's stream as Server-Sent Events, the way Letta clients read them: ``data: {json}``
per event, errors as ``event: error``, a first ping carrying the run id, ``data: [DONE]``."""

import uuid
from collections.abc import AsyncIterator
from typing import Any

from sse_starlette import EventSourceResponse, ServerSentEvent

from app.kit.db import utcnow
from app.kit.errors import AppError
from app.messages.convert import letta_date
from app.streaming.hub import DONE
from app.streaming.recorder import encode

_ERROR_MARK = '"message_type":"error_message"'


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
    return [encode({"message_type": "stop_reason", "stop_reason": "error"}), encode(error), DONE]


def stream_response(
    events: AsyncIterator[tuple[int | None, str]],
    *,
    run_id: str,
    include_pings: bool,
    keepalive: float,
    send_timeout: float,
) -> EventSourceResponse:
    async def generate() -> AsyncIterator[ServerSentEvent]:
        last: int | None = None
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
            yield ServerSentEvent(data=text, event="error" if _ERROR_MARK in text else None)

    return EventSourceResponse(
        generate(),
        ping=keepalive,
        sep="\n",
        send_timeout=send_timeout,
        headers={"Cache-Control": "no-cache, no-transform"},
    )
