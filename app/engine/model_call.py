"""The model call of a step: whole, or streamed with its pieces emitted as ``TokenDelta``
events, and abandoned as soon as the turn is cancelled.

A streamed answer's deltas are made whole here, so a consumer never repairs them: a tool
call's arguments that arrive before its name wait for it, empty pieces are dropped, and at
the end whatever a provider did not deliver as deltas is emitted from its final answer, so
each part of the answer is emitted exactly once, in order.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress
from dataclasses import dataclass

from app.engine.events import Answer, EventSink, Part, TokenDelta
from app.providers.base import (
    InvalidResponseError,
    LLMProvider,
    LLMRequest,
    LLMResponse,
    ProviderError,
    ReasoningDelta,
    StreamEnd,
    StreamItem,
    TextDelta,
    ToolCallDelta,
)


class TurnCancelledError(Exception):
    pass


@dataclass(slots=True)
class _Call:
    """What has been emitted of one tool call."""

    index: int
    id: str | None = None
    name: str | None = None
    held: str = ""  # arguments that arrived before the name
    named: bool = False  # its first delta is out
    arguments: str = ""  # the arguments emitted


class AnswerRelay:
    """Turns a model's stream into the answer's ``TokenDelta`` events."""

    def __init__(self, sink: EventSink, answer: Answer) -> None:
        self.sink = sink
        self.answer = answer
        self.relayed = False  # whether any piece of the answer has been emitted
        self._text = ""
        self._reasoning = ""
        self._calls: dict[int, _Call] = {}

    async def _emit(self, part: Part, text: str, call: _Call | None = None) -> None:
        self.relayed = True
        if call is None:
            await self.sink.emit(TokenDelta(self.answer, part, text))
        else:
            call.named, call.arguments = True, call.arguments + text
            delta = TokenDelta(self.answer, part, text, call.index, call.name, call.id)
            await self.sink.emit(delta)

    async def follow(self, stream: AsyncIterator[StreamItem]) -> LLMResponse:
        """Relay a model's stream; its final answer is returned."""
        async for item in stream:
            if isinstance(item, StreamEnd):
                await self._finish(item.response)
                return item.response
            if isinstance(item, TextDelta) and item.text:
                self._text += item.text
                await self._emit(Part.TEXT, item.text)
            elif isinstance(item, ReasoningDelta) and item.text:
                self._reasoning += item.text
                await self._emit(Part.REASONING, item.text)
            elif isinstance(item, ToolCallDelta):
                await self._tool(item)
        raise InvalidResponseError("the model's stream ended without its final response")

    async def _tool(self, item: ToolCallDelta) -> None:
        call = self._calls.get(item.index)
        if call is None:
            call = self._calls[item.index] = _Call(item.index)
        call.id = call.id or item.id
        call.name = call.name or item.name or None
        if call.name is None:
            call.held += item.arguments
            return
        pieces, call.held = call.held + item.arguments, ""
        if pieces or not call.named:
            await self._emit(Part.TOOL_CALL, pieces, call)

    async def _finish(self, response: LLMResponse) -> None:
        """Emit what the deltas left out of the final answer, in Letta's order."""
        for part, said, final in (
            (Part.REASONING, self._reasoning, response.reasoning),
            (Part.TEXT, self._text, response.text),
        ):
            if final.startswith(said) and len(final) > len(said):
                await self._emit(part, final[len(said) :])
        by_id = {c.id: c for c in self._calls.values() if c.id}
        fresh = max(self._calls, default=-1) + 1
        for made in response.tool_calls:
            call = by_id.get(made.id)
            if call is None:
                call, fresh = _Call(fresh, made.id, made.name), fresh + 1
            call.name = call.name or made.name
            missing = made.arguments[len(call.arguments) :]
            if not made.arguments.startswith(call.arguments):
                missing = ""
            if missing or not call.named:
                await self._emit(Part.TOOL_CALL, missing, call)


async def call_model(
    provider: LLMProvider, request: LLMRequest, relay: AnswerRelay | None, cancel: asyncio.Event
) -> LLMResponse:
    """The answer; ``TurnCancelledError`` once ``cancel`` is set, the call abandoned."""
    model = provider.complete(request) if relay is None else relay.follow(provider.stream(request))
    call = asyncio.ensure_future(model)
    waiter = asyncio.ensure_future(cancel.wait())
    try:
        await asyncio.wait({call, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if call.done():
            return call.result()
        raise TurnCancelledError
    finally:
        for task in (waiter, call):
            if not task.done():
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task


def failure_message(exc: ProviderError, relay: AnswerRelay | None) -> str:
    """What the run and its stream say of a failed call. Nothing of the step is stored;
    when part of the answer was relayed already, the client is told it was not kept."""
    if relay is None or not relay.relayed:
        return exc.message
    answer = relay.answer.message_id
    return f"{exc.message} (the partial answer streamed as {answer} was not stored)"
