"""The engine's token deltas are whole: each part's deltas add up to that part of the final
answer, a tool call is named by its first delta, and the Letta chunks shaped from them on the
consumer side follow Letta's rules (one otid per kind, the reply decoded from send_message)."""

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.engine.events import Answer, Committed, Event, Part, TokenDelta
from app.engine.model_call import AnswerRelay
from app.messages.models import Message
from app.providers.base import (
    LLMResponse,
    ReasoningDelta,
    StreamEnd,
    StreamItem,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from app.streaming.tokens import TokenRenderer

MESSAGE_ID = "message-00000000-0000-4000-8000-000000000000"


class Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def emit(self, event: Event) -> None:
        self.events.append(event)

    async def committing(self, session: AsyncSession, *events: Committed) -> None:
        raise AssertionError("a model call commits nothing")

    def rolled_back(self) -> None:
        raise AssertionError("a model call commits nothing")


async def _stream(items: list[StreamItem]) -> AsyncIterator[StreamItem]:
    for item in items:
        yield item


def _answer(agent_type: str = "letta_v1_agent", pausing: frozenset[str] = frozenset()) -> Answer:
    return Answer(MESSAGE_ID, "step-1", agent_type, pausing)


def _response(text: str = "", calls: tuple[ToolCall, ...] = (), reasoning: str = "") -> LLMResponse:
    return LLMResponse(text, list(calls), "stop", Usage(), reasoning)


async def _relay(items: list[StreamItem], answer: Answer | None = None) -> list[TokenDelta]:
    sink = Sink()
    relay = AnswerRelay(sink, answer or _answer())
    await relay.follow(_stream(items))
    assert all(isinstance(e, TokenDelta) for e in sink.events)
    return [e for e in sink.events if isinstance(e, TokenDelta)]


def _joined(deltas: list[TokenDelta], part: Part, index: int = 0) -> str:
    return "".join(d.text for d in deltas if d.part is part and d.index == index)


async def test_each_part_adds_up_to_the_final_answer() -> None:
    search = ToolCall("call-1", "conversation_search", '{"query": "tea"}')
    late = ToolCall("call-2", "memory_insert", '{"label": "human"}')
    final = _response("Hello there", (search, late), reasoning="thinking")
    deltas = await _relay(
        [
            ReasoningDelta("think"),
            TextDelta("Hel"),
            TextDelta(""),
            ToolCallDelta(0, "call-1", None, '{"query"'),
            ToolCallDelta(0, None, "conversation_search", ': "te'),
            StreamEnd(final),
        ]
    )
    assert _joined(deltas, Part.REASONING) == "thinking"
    assert _joined(deltas, Part.TEXT) == "Hello there"
    assert all(d.text for d in deltas if d.part is not Part.TOOL_CALL)
    calls = [d for d in deltas if d.part is Part.TOOL_CALL]
    assert {d.index for d in calls} == {0, 1}
    assert _joined(calls, Part.TOOL_CALL, 0) == search.arguments
    assert _joined(calls, Part.TOOL_CALL, 1) == late.arguments
    assert {(d.index, d.name, d.call_id) for d in calls} == {
        (0, "conversation_search", "call-1"),
        (1, "memory_insert", "call-2"),
    }


async def test_a_call_is_named_by_its_first_delta_even_without_arguments() -> None:
    final = _response(calls=(ToolCall("call-1", "memory_finish_edits", ""),))
    deltas = await _relay([ToolCallDelta(0, "call-1", "memory_finish_edits"), StreamEnd(final)])
    assert [(d.part, d.text, d.name) for d in deltas] == [
        (Part.TOOL_CALL, "", "memory_finish_edits")
    ]


def _rendered(renderer: TokenRenderer, deltas: list[TokenDelta]) -> list[dict[str, Any]]:
    return [c for c in (renderer.render(d) for d in deltas) if c is not None]


async def test_a_reply_is_decoded_into_assistant_chunks() -> None:
    arguments = '{"message": "Hi \\"you\\"", "request_heartbeat": false}'
    final = _response(calls=(ToolCall("call-1", "send_message", arguments),))
    answer = _answer("memgpt_v2_agent")
    items: list[StreamItem] = [ToolCallDelta(0, "call-1", "send_message", arguments[:15])]
    deltas = await _relay([*items, StreamEnd(final)], answer)
    chunks = _rendered(TokenRenderer(answer, replies=True), deltas)
    assert {c["message_type"] for c in chunks} == {"assistant_message"}
    assert "".join(c["content"] for c in chunks) == 'Hi "you"'
    assert len({c["otid"] for c in chunks}) == 1


async def test_a_structured_reply_is_shown_once_the_answer_is_stored() -> None:
    arguments = '{"message": {"mood": "calm"}}'
    final = _response(calls=(ToolCall("call-1", "send_message", arguments),))
    answer = _answer("memgpt_v2_agent")
    deltas = await _relay([StreamEnd(final)], answer)
    renderer = TokenRenderer(answer, replies=True)
    assert _rendered(renderer, deltas) == []
    call = {"id": "call-1", "name": "send_message", "arguments": arguments}
    [chunk] = renderer.finish(Message(id=MESSAGE_ID, tool_calls=[call]))
    assert chunk["content"] == '{"mood": "calm"}'


async def test_a_waiting_call_streams_as_an_approval_request() -> None:
    final = _response("ok", (ToolCall("call-1", "send_message", '{"message": "x"}'),))
    answer = _answer("memgpt_v2_agent", frozenset({"send_message"}))
    deltas = await _relay([TextDelta("ok"), StreamEnd(final)], answer)
    chunks = _rendered(TokenRenderer(answer, replies=True), deltas)
    kinds = [c["message_type"] for c in chunks]
    assert kinds == ["reasoning_message", "approval_request_message"]
    assert chunks[1]["otid"] == MESSAGE_ID
    assert chunks[1]["tool_call"] == {
        "name": "send_message",
        "tool_call_id": "call-1",
        "arguments": '{"message": "x"}',
    }
