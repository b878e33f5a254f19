import re

import pytest

from app.providers.assembly import Fragment, ResponseAssembler, decode_object, wire_name
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


@pytest.mark.parametrize("given", ["", "call with spaces", "call\x00", "x" * 65, "toolu.1"])
def test_an_id_that_could_not_be_sent_back_is_replaced(given: str) -> None:
    assembler = ResponseAssembler()
    shown = assembler.add(ToolCallDelta(0, id=given, name="f"))
    assert isinstance(shown, ToolCallDelta) and shown.id != given
    assert assembler.finish("tool_calls", Usage()).tool_calls[0].id == shown.id


@pytest.mark.parametrize("given", ["call_AbC-123", "toolu_01A", "x" * 64])
def test_a_usable_id_is_kept(given: str) -> None:
    assembler = ResponseAssembler()
    assembler.add(ToolCallDelta(0, id=given, name="f"))
    assert assembler.finish("tool_calls", Usage()).tool_calls[0].id == given


def test_text_the_databases_could_not_store_is_made_valid_unicode() -> None:
    """JSON escapes can carry UTF-16 halves: pairs are joined, lone halves replaced."""
    assembler = ResponseAssembler()
    for fragment in [
        TextDelta("smile \ud83d"),
        TextDelta("\ude00 lone \ud800"),
        ReasoningDelta("\udc00"),
        ToolCallDelta(0, id="c", name="f\ud800", arguments='{"a": "\ud83d\ude00"}'),
    ]:
        assembler.add(fragment)
    response = assembler.finish("tool_calls", Usage())
    assert response.text == "smile \U0001f600 lone \ufffd"
    assert response.reasoning == "\ufffd"
    assert response.tool_calls == [ToolCall("c", "f\ufffd", '{"a": "\U0001f600"}')]


def test_u0000_is_kept_as_said() -> None:
    """The storage layer escapes it; the answer itself is not changed."""
    assembler = ResponseAssembler()
    assembler.add(TextDelta("a\x00b"))
    assert assembler.finish("stop", Usage()).text == "a\x00b"


@pytest.mark.parametrize(
    ("name", "sent"),
    [
        ("send_message", "send_message"),
        ("multi_tool_use.parallel", "multi_tool_use_parallel"),
        ("get weather\x00", "get_weather_"),
        ("x" * 80, "x" * 64),
        ("", "_"),
    ],
)
def test_called_names_are_mended_for_the_wire(name: str, sent: str) -> None:
    assert wire_name(name) == sent
