"""A small OpenAI-compatible server on loopback, run in a background thread for tests.

Tests script its answers turn by turn (``FakeLLMState.script``); with nothing scripted it
echoes the last user message. Every request body is recorded for assertions.

It also counts tokens as Anthropic's ``POST /v1/messages/count_tokens`` does (one token per
word of the body's text, ten per tool), answering ``count_status`` when a test sets it, and
records those requests in ``count_requests`` (with their headers).

Embeddings (``POST /v1/embeddings``) are deterministic bags of words hashed into
``EMBEDDING_DIM`` dimensions, with a few words folded into one concept (``CONCEPTS``) so that
paraphrases are near each other as with a real model; requests land in
``embedding_requests``, and ``embedding_status`` scripts a failure.

Summarisation requests (a system message containing ``summary_marker``, when a test sets it)
are answered apart, from ``summaries`` or with a numbered summary, and recorded in
``summary_requests``: the agent's own script and requests stay as they were.

A reply can also be a fault, as real providers produce them: an error status with headers
(``Retry-After``), an answer that never comes (``hold``), a body that is not JSON, reasoning
or arguments with any text in them, and streams cut short (``cut``): ended cleanly before
their last chunks, broken off (the connection dropped mid-body) or stalled.
"""

import asyncio
import json
import math
import socket
import threading
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route


@dataclass(frozen=True)
class Cut:
    """Where a stream stops: after its first ``chunks`` events (``[DONE]`` counts as one),
    and how: the body ``end``s cleanly, the connection is ``drop``ped, or it ``stall``s
    (sends nothing more until ``Reply.hold`` is set)."""

    chunks: int
    how: Literal["end", "drop", "stall"] = "end"


@dataclass
class Reply:
    """One scripted answer: text and/or tool calls, or an HTTP error. A tool call's arguments
    are a dict (sent as JSON) or a string (sent as it is, broken JSON included)."""

    text: str | None = None
    tool_calls: list[tuple[str, dict[str, Any] | str]] = field(default_factory=list)
    status: int = 200
    error_body: Any = None
    headers: dict[str, str] = field(default_factory=dict)  # sent with an error status
    raw_body: str | None = None
    finish_reason: str | None = None
    reasoning: str | None = None  # sent as ``reasoning_content``, as vLLM and DeepSeek do
    hold: threading.Event | None = None  # the answer waits until the test sets it
    hold_seconds: float = 30  # ... or until this long has passed
    delay: float = 0.0
    piece: int = 5  # streamed tool-call arguments come in pieces of this many characters
    cut: Cut | None = None  # a stream stops early (see ``Cut``)
    done: bool = True  # a stream ends with ``data: [DONE]``


@dataclass
class FakeLLMState:
    models: list[str] = field(default_factory=lambda: ["fake-model-small", "fake-model-large"])
    script: deque[Reply] = field(default_factory=deque)
    chat_requests: list[dict[str, Any]] = field(default_factory=list)
    chat_times: list[float] = field(default_factory=list)  # time.monotonic() of each arrival
    requests: list[tuple[str, str]] = field(default_factory=list)
    summary_marker: str | None = None
    summaries: deque[Reply] = field(default_factory=deque)
    summary_requests: list[dict[str, Any]] = field(default_factory=list)
    count_requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    count_status: int = 200
    embedding_requests: list[dict[str, Any]] = field(default_factory=list)
    embedding_status: int = 200
    _arrivals: threading.Condition = field(default_factory=threading.Condition)

    def record_chat(self, body: dict[str, Any]) -> None:
        with self._arrivals:
            self.chat_requests.append(body)
            self.chat_times.append(time.monotonic())
            self._arrivals.notify_all()

    def wait_for_chat_requests(self, count: int, timeout: float = 30) -> None:
        """Block (in a worker thread) until ``count`` chat requests have arrived."""
        with self._arrivals:
            if not self._arrivals.wait_for(lambda: len(self.chat_requests) >= count, timeout):
                raise TimeoutError(f"{count} chat requests did not arrive within {timeout}s")

    def wait_for_summary_requests(self, count: int, timeout: float = 30) -> None:
        """Block (in a worker thread) until ``count`` summarisation requests have arrived."""
        with self._arrivals:
            if not self._arrivals.wait_for(lambda: len(self.summary_requests) >= count, timeout):
                raise TimeoutError(f"{count} summary requests did not arrive within {timeout}s")

    def reset(self) -> None:
        self.script.clear()
        self.chat_requests.clear()
        self.chat_times.clear()
        self.requests.clear()
        self.summary_marker = None
        self.summaries.clear()
        self.summary_requests.clear()
        self.count_requests.clear()
        self.count_status = 200
        self.embedding_requests.clear()
        self.embedding_status = 200

    def is_summary(self, body: dict[str, Any]) -> bool:
        marker = self.summary_marker
        return marker is not None and any(
            m.get("role") == "system" and marker in str(m.get("content"))
            for m in body.get("messages", [])
        )

    def summary_reply(self, body: dict[str, Any]) -> Reply:
        with self._arrivals:
            self.summary_requests.append(body)
            self._arrivals.notify_all()
        if self.summaries:
            return self.summaries.popleft()
        return Reply(text=f"summary {len(self.summary_requests)}")

    def add(self, *replies: Reply) -> None:
        self.script.extend(replies)


def _echo(body: dict[str, Any]) -> Reply:
    users = [m for m in body.get("messages", []) if m.get("role") == "user"]
    return Reply(text=f"echo: {users[-1]['content'] if users else ''}")


def _completion(reply: Reply, index: int) -> dict[str, Any]:
    calls = [
        {
            "id": f"call_{index}_{n}",
            "type": "function",
            "function": {
                "name": name,
                "arguments": args if isinstance(args, str) else json.dumps(args),
            },
        }
        for n, (name, args) in enumerate(reply.tool_calls)
    ]
    message: dict[str, Any] = {"role": "assistant", "content": reply.text}
    if reply.reasoning is not None:
        message["reasoning_content"] = reply.reasoning
    if calls:
        message["tool_calls"] = calls
    finish = reply.finish_reason or ("tool_calls" if calls else "stop")
    return {
        "id": f"chatcmpl-{index}",
        "object": "chat.completion",
        "created": 0,
        "model": "fake",
        "choices": [{"index": 0, "message": message, "finish_reason": finish}],
        "usage": {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18},
    }


def _pieces(text: str, size: int = 4) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


async def _chunks(completion: dict[str, Any], piece: int = 5) -> AsyncIterator[str]:
    """The completion as Chat Completions stream chunks: text and tool-call arguments in
    small pieces, usage in a last chunk of its own."""
    choice = completion["choices"][0]
    message = choice["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        body = {
            "id": completion["id"],
            "object": "chat.completion.chunk",
            "model": "fake",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }
        return f"data: {json.dumps(body)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    for text in _pieces(message.get("reasoning_content") or ""):
        yield chunk({"reasoning_content": text})
    for text in _pieces(message.get("content") or ""):
        yield chunk({"content": text})
    for index, call in enumerate(message.get("tool_calls") or []):
        function = {"name": call["function"]["name"], "arguments": ""}
        head = {"index": index, "id": call["id"], "type": "function", "function": function}
        yield chunk({"tool_calls": [head]})
        for part in _pieces(call["function"]["arguments"], piece):
            yield chunk({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
    yield chunk({}, choice["finish_reason"])
    usage = {
        "id": completion["id"],
        "object": "chat.completion.chunk",
        "choices": [],
        "usage": completion["usage"],
    }
    yield f"data: {json.dumps(usage)}\n\n"
    yield "data: [DONE]\n\n"


class DroppedConnection(Exception):
    """Raised inside a streamed body: the server drops the connection mid-body."""


async def _scripted(reply: Reply, chunks: AsyncIterator[str]) -> AsyncIterator[str]:
    """The stream as the reply scripts it: without ``[DONE]``, or cut short."""
    sent = 0
    async for text in chunks:
        if text.startswith("data: [DONE]") and not reply.done:
            break
        if reply.cut is not None and sent == reply.cut.chunks:
            break
        sent += 1
        yield text
    if reply.cut is None or reply.cut.how == "end":
        return
    if reply.cut.how == "drop":
        raise DroppedConnection("the scripted stream breaks off here")
    assert reply.hold is not None, "a stalling stream waits for the test to release it"
    await asyncio.to_thread(reply.hold.wait, reply.hold_seconds)


def _app(state: FakeLLMState) -> Starlette:
    async def models(request: Request) -> JSONResponse:
        state.requests.append((request.method, request.url.path))
        data = [{"id": m, "object": "model", "owned_by": "fake"} for m in state.models]
        return JSONResponse({"object": "list", "data": data})

    async def chat(request: Request) -> Response:
        body = await request.json()
        if state.is_summary(body):
            reply = state.summary_reply(body)
        else:
            state.record_chat(body)
            reply = state.script.popleft() if state.script else _echo(body)
        if reply.hold is not None and reply.cut is None:
            await asyncio.to_thread(reply.hold.wait, reply.hold_seconds)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.raw_body is not None:
            media_type = "text/event-stream" if body.get("stream") else "application/json"
            return Response(reply.raw_body, status_code=reply.status, media_type=media_type)
        if reply.status != 200:
            return JSONResponse(
                reply.error_body or {"error": {"message": "scripted"}},
                reply.status,
                headers=reply.headers,
            )
        if body.get("stream"):
            chunks = _chunks(_completion(reply, len(state.chat_requests)), reply.piece)
            return StreamingResponse(_scripted(reply, chunks), media_type="text/event-stream")
        return JSONResponse(_completion(reply, len(state.chat_requests)))

    return Starlette(
        routes=[
            Route("/v1/models", models),
            Route("/v1/chat/completions", chat, methods=["POST"]),
            Route("/v1/messages/count_tokens", _counter(state), methods=["POST"]),
            Route("/v1/embeddings", _embedder(state), methods=["POST"]),
        ]
    )


def _counter(state: FakeLLMState) -> Callable[[Request], Awaitable[JSONResponse]]:
    """Anthropic's count_tokens, as the fake answers it."""

    async def count_tokens(request: Request) -> JSONResponse:
        body = await request.json()
        state.count_requests.append((dict(request.headers), body))
        if state.count_status != 200:
            error = {"type": "error", "error": {"type": "api_error", "message": "scripted"}}
            return JSONResponse(error, state.count_status)
        return JSONResponse({"input_tokens": count_words(body)})

    return count_tokens


EMBEDDING_DIM = 64
CONCEPTS = {
    word: concept
    for concept, words in {
        "cat": ("cat", "cats", "kitten", "kittens", "feline"),
        "dog": ("dog", "dogs", "puppy", "puppies", "canine"),
        "food": ("food", "meal", "dinner", "lunch", "eat", "eats", "cuisine"),
        "travel": ("travel", "trip", "journey", "flight", "vacation"),
    }.items()
    for word in words
}


def fake_embedding(text: str) -> list[float]:
    """The fake's vector of ``text``: its words (or their concepts) counted in hashed
    buckets, normalised to unit length."""
    vector = [0.0] * EMBEDDING_DIM
    for raw in text.lower().split():
        word = CONCEPTS.get(raw.strip(".,!?;:'\""), raw.strip(".,!?;:'\""))
        if word:
            vector[zlib.crc32(word.encode()) % EMBEDDING_DIM] += 1.0
    norm = math.sqrt(sum(x * x for x in vector)) or 1.0
    return [x / norm for x in vector]


def _embedder(state: FakeLLMState) -> Callable[[Request], Awaitable[JSONResponse]]:
    async def embeddings(request: Request) -> JSONResponse:
        body = await request.json()
        state.embedding_requests.append(body)
        if state.embedding_status != 200:
            return JSONResponse({"error": {"message": "scripted"}}, state.embedding_status)
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        data = [
            {"object": "embedding", "index": i, "embedding": fake_embedding(t)}
            for i, t in enumerate(texts)
        ]
        return JSONResponse({"object": "list", "data": data, "model": body.get("model")})

    return embeddings


def count_words(body: dict[str, Any]) -> int:
    """The fake's token count of a count_tokens body: the words of its system prompt and
    messages, ten per tool."""
    texts = [str(body.get("system") or "")]
    for message in body.get("messages", []):
        content = message.get("content")
        parts = content if isinstance(content, list) else [{"text": content}]
        texts += [str(part.get("text") or part.get("content") or "") for part in parts]
    return sum(len(text.split()) for text in texts) + 10 * len(body.get("tools") or [])


@dataclass
class FakeLLMServer:
    state: FakeLLMState
    base_url: str


@contextmanager
def run_fake_llm() -> Iterator[FakeLLMServer]:
    """Serve the fake in a thread. The socket listens before the thread starts, so clients
    can connect at once (the kernel queues them) and nobody has to wait for readiness."""
    state = FakeLLMState()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    port = sock.getsockname()[1]
    config = uvicorn.Config(_app(state), log_config=None, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])))
    thread.start()
    try:
        yield FakeLLMServer(state=state, base_url=f"http://127.0.0.1:{port}/v1")
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
