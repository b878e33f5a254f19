"""Text both databases can hold, whatever a model wrote into it.

PostgreSQL refuses U+0000 in ``text`` columns and in ``jsonb`` strings, and a model's reply,
reasoning or tool arguments may contain it. Requests from clients are refused at the edge,
but model output must be kept as it was said, so stored text escapes U+0000 and reading
restores it: the content round-trips exactly. The escape is U+FDD0 (a noncharacter, which
Unicode leaves to applications for internal use) followed by ``0``; U+FDD0 itself is stored
as U+FDD0 ``1``, so every string has one stored form and reads back unchanged. Both databases
store the same form, so nothing above this module depends on the dialect.

JSON columns get this through the engine's JSON serializer (``dumps`` / ``loads``), text
columns that hold model output through ``SafeText`` / ``SafeString``.
"""

import json
import re
from collections.abc import Callable
from typing import Any

from sqlalchemy import String, Text, TypeDecorator
from sqlalchemy.engine import Dialect

ESCAPE = "\ufdd0"
_STORED = {"\x00": ESCAPE + "0", ESCAPE: ESCAPE + "1"}
_READ = {"0": "\x00", "1": ESCAPE}
_ESCAPED = re.compile(ESCAPE + "([01])")
# How U+0000 and U+FDD0 look inside json.dumps output (ASCII-only by default).
_JSON_MARKS = ("\\u0000", "\\ufdd0")


def escape(text: str) -> str:
    if "\x00" not in text and ESCAPE not in text:
        return text
    return text.replace(ESCAPE, _STORED[ESCAPE]).replace("\x00", _STORED["\x00"])


def restore(text: str) -> str:
    if ESCAPE not in text:
        return text
    return _ESCAPED.sub(lambda found: _READ[found[1]], text)


def _each_string(value: Any, change: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return change(value)
    if isinstance(value, dict):
        return {_each_string(k, change): _each_string(v, change) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_each_string(item, change) for item in value]
    return value


def dumps(value: Any) -> str:
    """The engine's JSON serializer: ``json.dumps``, with every string escaped when any
    needs it (checked on the serialized text, so the common case costs one scan)."""
    text = json.dumps(value)
    if any(mark in text for mark in _JSON_MARKS):
        text = json.dumps(_each_string(value, escape))
    return text


def loads(text: str) -> Any:
    """The engine's JSON deserializer. PostgreSQL hands ``jsonb`` back with U+FDD0 as the
    character, SQLite as the ``\\ufdd0`` escape we wrote: either means there is work."""
    value = json.loads(text)
    if ESCAPE in text or _JSON_MARKS[1] in text:
        value = _each_string(value, restore)
    return value


class _Escaping(TypeDecorator[str]):
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else escape(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else restore(value)


class SafeText(_Escaping):
    """A ``Text`` column that may hold model output."""

    impl = Text
    cache_ok = True


class SafeString(_Escaping):
    """A ``String(n)`` column that may hold model output."""

    impl = String
    cache_ok = True
