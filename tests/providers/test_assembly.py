import re

import pytest

from app.providers.assembly import Fragment, ResponseAssembler, decode_object
from app.providers.base import (
    InvalidResponseError,
    ReasoningDelta,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    Usage,
)


def test_text_reasoning_and_calls_in_index_order() -> None:
    assembler = ResponseAssembler()
    fragments: list[Fragment] = [
        ReasoningDelta("Think"),
        TextDelta("Hel"),
        ToolCallDelta(1, id="call_b", name="second", arguments='{"n":'),
        ToolCallDelta(0, id="call_a", name="first", arguments=""),
        ReasoningDelta("ing."),
        TextDelta("lo"),
        ToolCallDelta(1, arguments=" 2}"),
        ToolCallDelta(0, arguments='{"n": 1}'),
    ]
    for fragment in fragments:
        assembler.add(fragment)
    usage = Usage(prompt_tokens=10, completion_tokens=5)
    response = assembler.finish("tool_calls", usage)
    assert response.text == "Hello"
    assert response.reasoning == "Thinking."
    assert response.tool_calls == [
        ToolCall("call_a", "first", '{"n": 1}'),
        ToolCall("call_b", "second", '{"n": 2}'),
    ]
    assert response.finish_reason == "tool_calls"
    assert response.usage is usage


def test_missing_id_is_generated_once_and_shown_in_the_delta() -> None:
    assembler = ResponseAssembler()
    shown = assembler.add(ToolCallDelta(0, name="lookup", arguments='{"q"'))
    assert isinstance(shown, ToolCallDelta)
    assert shown.id is not None and re.fullmatch(r"call_[0-9a-f]{8}", shown.id)
    assert shown.name == "lookup" and shown.arguments == '{"q"'
    assembler.add(ToolCallDelta(0, arguments=': "x"}'))
    response = assembler.finish("tool_calls", Usage())
    assert response.tool_calls == [ToolCall(shown.id, "lookup", '{"q": "x"}')]


def test_generated_ids_differ_between_calls() -> None:
    assembler = ResponseAssembler()
    assembler.add(ToolCallDelta(0, name="a"))
    assembler.add(ToolCallDelta(1, name="b"))
    first, second = assembler.finish("tool_calls", Usage()).tool_calls
    assert first.id != second.id


def test_empty_arguments_become_an_empty_object() -> None:
    assembler = ResponseAssembler()
    assembler.add(ToolCallDelta(0, id="call_1", name="ping"))
    assert assembler.finish("tool_calls", Usage()).tool_calls == [ToolCall("call_1", "ping", "{}")]


def test_a_repeated_name_is_not_doubled() -> None:
    assembler = ResponseAssembler()
    assembler.add(ToolCallDelta(0, id="call_1", name="ping", arguments="{"))
    assembler.add(ToolCallDelta(0, id="call_1", name="ping", arguments="}"))
    assert assembler.finish("stop", Usage()).tool_calls == [ToolCall("call_1", "ping", "{}")]


def test_fragments_without_content_are_not_passed_on() -> None:
    assembler = ResponseAssembler()
    assert assembler.add(TextDelta("")) is None
    assert assembler.add(ReasoningDelta("")) is None
    assert assembler.add(ToolCallDelta(0, id="call_1", name="ping")) is not None
    assert assembler.add(ToolCallDelta(0, id="call_1")) is None


def test_a_call_without_a_name_is_invalid() -> None:
    assembler = ResponseAssembler()
    assembler.add(ToolCallDelta(0, id="call_1", arguments="{}"))
    with pytest.raises(InvalidResponseError, match="no name"):
        assembler.finish("tool_calls", Usage())


@pytest.mark.parametrize("finish", ["stop", "tool_calls", "other"])
def test_saying_nothing_is_invalid(finish: str) -> None:
    assembler = ResponseAssembler()
    assembler.add(ReasoningDelta("only thoughts"))
    with pytest.raises(InvalidResponseError, match="neither text nor tool calls"):
        assembler.finish(finish, Usage())  # type: ignore[arg-type]


def test_an_empty_reply_cut_by_the_length_limit_is_allowed() -> None:
    response = ResponseAssembler().finish("length", Usage(prompt_tokens=3))
    assert response.text == "" and response.tool_calls == []
    assert response.finish_reason == "length"


@pytest.mark.parametrize("text", ["not json", "[1, 2]", '"str"', ""])
def test_decode_object_rejects_what_is_not_an_object(text: str) -> None:
    with pytest.raises(InvalidResponseError, match="reply"):
        decode_object(text, what="reply")
