"""An OpenAI-compatible model that answers every chat request at once, for benchmarks.

Run: ``python scripts/fake_openai.py PORT``. It replies "ok" with fixed usage, so what a
benchmark measures is the service's own cost around the model call. With
``FAKE_SLEEPTIME_DELAY`` set, calls from sleeptime agents take that long.
"""

import asyncio
import json
import os
import sys

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
# Seconds a sleeptime agent's call takes (FAKE_SLEEPTIME_DELAY): keeps such runs in flight.
SLEEPTIME_DELAY = float(os.environ.get("FAKE_SLEEPTIME_DELAY", "0"))
_MODELS = json.dumps({"object": "list", "data": [{"id": "bench", "object": "model"}]}).encode()


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
    body = _MODELS if scope["path"].endswith("/models") else _BODY
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", access_log=False)
