"""Faults for the resilience tests: a database that refuses connections, a sleeptime attempt
caught mid-run, and a deadline-bound wait on an HTTP answer where no event exists."""

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self

import httpx
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.fakes.llm_server import FakeLLMServer, Reply


class ConnectionFault:
    """While on, ``engine`` cannot reach its database: pooled connections are dropped at
    checkout and new ones are refused by the driver, as when the server goes away. The
    connections already checked out finish what they were doing."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine.sync_engine
        self.on = False
        self.refused = 0
        event.listen(self.engine, "checkout", self._checkout)
        event.listen(self.engine, "do_connect", self._connect)

    def _checkout(self, *_args: Any) -> None:
        if self.on:
            raise DisconnectionError("the database went away (injected)")

    def _connect(self, dialect: Any, *_args: Any) -> None:
        if self.on:
            self.refused += 1
            raise dialect.loaded_dbapi.OperationalError("connection refused (injected)")

    def remove(self) -> None:
        self.on = False
        event.remove(self.engine, "checkout", self._checkout)
        event.remove(self.engine, "do_connect", self._connect)

    def __enter__(self) -> Self:
        self.on = True
        return self

    def __exit__(self, *_exc: object) -> None:
        self.on = False


async def until(
    client: httpx.AsyncClient,
    path: str,
    accept: Callable[[httpx.Response], bool],
    *,
    seconds: float = 30.0,
) -> httpx.Response:
    """GET ``path`` until ``accept`` holds for the answer; fails after ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        response = await client.get(path)
        if accept(response):
            return response
        if time.monotonic() > deadline:
            raise AssertionError(f"{path} never answered as expected: {response.text}")
        await asyncio.sleep(0.05)


@contextmanager
def held() -> Iterator[threading.Event]:
    """An event holding a scripted reply, released at the end whatever happened."""
    event = threading.Event()
    try:
        yield event
    finally:
        event.set()


def attempt(text: str) -> list[Reply]:
    """A sleeptime attempt's replies: rewrite the human block, then finish."""
    return [
        Reply(tool_calls=[("memory_rethink", {"label": "human", "new_memory": text})]),
        Reply(tool_calls=[("memory_finish_edits", {})]),
    ]


async def first_attempt_running(
    client: httpx.AsyncClient,
    primary_id: str,
    fake_llm: FakeLLMServer,
    hold: threading.Event,
    say: str = "hi, I'm Ana",
) -> str:
    """A turn of ``primary_id`` (sleeptime every turn) whose sleeptime run's first attempt
    stored its transcript and a step writing PARTIAL, and waits on ``hold`` for its second
    step. Returns the sleeptime run's id."""
    first, second = attempt("PARTIAL")
    second.hold = hold
    fake_llm.state.add(Reply(text="Hello Ana"), first, second)
    response = await client.post(f"/v1/agents/{primary_id}/messages", json={"input": say})
    assert response.status_code == 200, response.text
    [run_id] = response.json()["usage"]["run_ids"]
    await asyncio.to_thread(fake_llm.state.wait_for_chat_requests, 3)
    return str(run_id)


def transcripts(history: list[dict[str, Any]]) -> list[str]:
    """The transcripts a sleeptime agent was given, from its history."""
    return [m["content"] for m in history if m["message_type"] == "user_message"]
