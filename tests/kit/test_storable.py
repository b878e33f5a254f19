"""Stored text may carry U+0000 (PostgreSQL refuses it raw): one escaped form, read back
exactly, for text and JSON columns alike."""

import json

import pytest

from app.kit.storable import ESCAPE, dumps, escape, loads, restore

AWKWARD = [
    "",
    "plain",
    "\x00",
    "a\x00b\x00",
    ESCAPE,
    ESCAPE + "0",
    ESCAPE + "1" + "\x00" + ESCAPE,
    "\\u0000 as typed",
    "ŝ😀\u2028",
]


@pytest.mark.parametrize("text", AWKWARD)
def test_text_round_trips_and_is_storable(text: str) -> None:
    stored = escape(text)
    assert "\x00" not in stored
    assert restore(stored) == text


def test_text_without_either_character_is_stored_as_it_is() -> None:
    assert escape("plain ŝ") == "plain ŝ" and restore("plain ŝ") == "plain ŝ"


@pytest.mark.parametrize("text", AWKWARD)
def test_json_round_trips_and_is_storable(text: str) -> None:
    value = {"content": [{"text": text}], text: [text, 1, None, True]}
    stored = dumps(value)
    assert "\\x00" not in repr(json.loads(stored))  # no string PostgreSQL would refuse
    assert loads(stored) == value
    # PostgreSQL gives jsonb back with the characters themselves, not their escapes.
    assert loads(json.dumps(json.loads(stored), ensure_ascii=False)) == value


def test_json_without_either_character_is_plain_json() -> None:
    value = {"a": ["b", 1.5, None]}
    assert dumps(value) == json.dumps(value) and loads(json.dumps(value)) == value
