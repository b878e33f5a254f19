"""An OpenAI-compatible model that answers every chat request at once, for benchmarks.

Run: ``python scripts/fake_openai.py PORT``. It replies "ok" with fixed usage, so what a
benchmark measures is the service's own cost around the model call. Settings (environment):

- ``FAKE_SLEEPTIME_DELAY``: seconds a sleeptime agent's call takes (keeps such runs in flight).
- ``FAKE_HOLD_SECONDS``: seconds every call takes (keeps many streams open at once).
- ``FAKE_STREAM_CHUNKS`` / ``FAKE_STREAM_GAP``: when the request streams, send that many content
  chunks that far apart, each holding the wall-clock time it was sent (``<seconds>|``), so a
  client can measure how long deltas take to reach it.
"""

import asyncio
import json
import os
import sys
import time

import uvicorn
from starlette.types import Receive, Scope, Send

_BODY = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 10, "completion_tokens": 1, "total_tokens": 11},
    }
).encode()
SLEEPTIME_DELAY = float(os.environ.get("FAKE_SLEEPTIME_DELAY", "0"))
HOLD = float(os.environ.get("FAKE_HOLD_SECONDS", "0"))
CHUNKS = int(os.environ.get("FAKE_STREAM_CHUNKS", "5"))
GAP = float(os.environ.get("FAKE_STREAM_GAP", "0"))
_MODELS = json.dumps({"object": "list", "data": [{"id": "bench", "object": "model"}]}).encode()
_HEADERS = [(b"content-type", b"application/json")]


def _chunk(delta: dict[str, object], finish: str | None = None) -> bytes:
    choice = {"index": 0, "delta": delta, "finish_reason": finish}
    body = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "choices": [choice]}
    return f"data: {json.dumps(body)}\n\n".encode()


async def _stream(send: Send) -> None:
    headers = [(b"content-type", b"text/event-stream")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for _ in range(CHUNKS):
        if GAP:
            await asyncio.sleep(GAP)
        piece = _chunk({"content": f"{time.time():.6f}|"})
        await send({"type": "http.response.body", "body": piece, "more_body": True})
    usage = {
        "id": "chatcmpl-bench",
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": {"prompt_tokens": 10, "completion_tokens": CHUNKS, "total_tokens": 10 + CHUNKS},
    }
    tail = _chunk({}, "stop") + f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode()
    await send({"type": "http.response.body", "body": tail})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] != "http":
        return
    more, request = True, b""
    while more:
        message = await receive()
        request += message.get("body", b"")
        more = message.get("more_body", False)
    if SLEEPTIME_DELAY and b"background memory agent" in request:
        await asyncio.sleep(SLEEPTIME_DELAY)  # a slow model for sleeptime runs only
    if HOLD:
        await asyncio.sleep(HOLD)
    streaming = b'"stream": true' in request or b'"stream":true' in request
    if scope["path"].endswith("/chat/completions") and streaming:
        await _stream(send)
        return
    body = _MODELS if scope["path"].endswith("/models") else _BODY
    headers = [*_HEADERS, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="info", access_log=False)
