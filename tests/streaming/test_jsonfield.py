"""The incremental reader of a JSON string field, fed the object in every possible split."""

import json
from typing import Any

import pytest

from app.streaming.jsonfield import StringFieldReader

TRICKY = 'He said "hi" \\ then\nleft\t/ café 😀 \u2028 \x01 end'
OBJECTS: list[dict[str, Any]] = [
    {"message": "plain"},
    {"message": TRICKY},
    {"message": TRICKY, "request_heartbeat": True},
    {"request_heartbeat": False, "message": TRICKY},
    {"other": {"message": "nested, not this"}, "list": ["message", 1], "message": "this"},
    {"message": ""},
    {"message\\": "not the key", "message": "the key"},
]


def read(pieces: list[str]) -> str:
    reader = StringFieldReader("message")
    return "".join(reader.feed(piece) for piece in pieces)


def texts() -> list[str]:
    """Each object as models write it: compact or spaced, escaped ASCII or raw UTF-8."""
    out = []
    for obj in OBJECTS:
        out.append(json.dumps(obj))
        out.append(json.dumps(obj, ensure_ascii=False, separators=(",", ":")))
        out.append(json.dumps(obj, indent=2))
    return out


@pytest.mark.parametrize("text", texts())
def test_every_split_in_two_and_three(text: str) -> None:
    expected = json.loads(text)["message"]
    for i in range(len(text) + 1):
        assert read([text[:i], text[i:]]) == expected, i
    step = max(1, len(text) // 40)  # three pieces: every pair of cut points, thinned on long ones
    for i in range(0, len(text) + 1, step):
        for j in range(i, len(text) + 1, step):
            assert read([text[:i], text[i:j], text[j:]]) == expected, (i, j)


@pytest.mark.parametrize("text", texts())
def test_one_character_at_a_time(text: str) -> None:
    assert read(list(text)) == json.loads(text)["message"]


def test_text_comes_out_as_it_is_written() -> None:
    reader = StringFieldReader("message")
    assert reader.feed('{"message": "Hel') == "Hel"
    assert reader.feed("lo \\") == "lo "
    assert reader.feed('"you\\u00') == '"you'
    assert reader.feed("e9") == "é"
    assert reader.feed("\\ud83d") == ""  # half a surrogate pair waits for the other half
    assert reader.feed('\\ude00!", "request_heartbeat": true}') == "😀!"
    assert reader.done


def test_a_lone_high_surrogate_stands_alone_as_json_loads_has_it() -> None:
    text = '{"message": "a\\ud83db"}'
    assert read([text]) == json.loads(text)["message"] == "a\ud83db"


@pytest.mark.parametrize(
    "text",
    ['{"message": {"rank": 1}}', '{"message": 42}', '{"msg": "x"}', '["message", "x"]', ""],
)
def test_nothing_when_the_field_is_not_a_top_level_string(text: str) -> None:
    assert read([text]) == ""
