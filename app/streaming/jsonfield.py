"""Reading one string field of a JSON object while the object is still arriving.

A model writes a tool call's arguments a few characters at a time. To stream the text of
``send_message``'s ``message`` argument as it is written, ``StringFieldReader`` is fed the
pieces in order and returns, each time, the newly decoded characters of that field: escapes
(``\\n``, ``\\"``, ``\\u00e9``, surrogate pairs) are decoded even when a piece ends in the
middle of one. Only a top-level field counts, and only when its value is a string; the
decoded text equals what ``json.loads`` gives for the whole object.
"""

from enum import Enum, auto

_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_WHITESPACE = frozenset(" \t\r\n")


class _Expect(Enum):
    """What comes next inside the top-level object."""

    KEY = auto()
    COLON = auto()
    VALUE = auto()
    OTHER = auto()  # after a value, or anywhere we are not reading the top level


class _String:
    """Decodes the characters of one JSON string (after its opening quote)."""

    def __init__(self) -> None:
        self.escape = False
        self.hex: str | None = None  # the digits of a ``\\u`` escape read so far
        self.high: int | None = None  # a high surrogate waiting for its low half
        self.closed = False

    def feed(self, char: str) -> str:
        """The text ``char`` completes (often nothing); sets ``closed`` at the end quote."""
        if self.hex is not None:
            return self._hex_digit(char)
        if self.escape:
            self.escape = False
            if char == "u":
                self.hex = ""
                return ""
            return self._pending() + _ESCAPES.get(char, char)
        if char == "\\":
            self.escape = True
            return ""
        if char == '"':
            self.closed = True
            return self._pending()
        return self._pending() + char

    def _hex_digit(self, char: str) -> str:
        self.hex = (self.hex or "") + char
        if len(self.hex) < 4:
            return ""
        try:
            code = int(self.hex, 16)
        except ValueError:
            code = 0xFFFD  # not JSON; keep going rather than fail a reply mid-stream
        self.hex = None
        if self.high is not None and 0xDC00 <= code <= 0xDFFF:
            high, self.high = self.high, None
            return chr(0x10000 + ((high - 0xD800) << 10) + (code - 0xDC00))
        before = self._pending()
        if 0xD800 <= code <= 0xDBFF:
            self.high = code
            return before
        return before + chr(code)

    def _pending(self) -> str:
        """A high surrogate not followed by its low half stands alone, as in ``json.loads``."""
        if self.high is None:
            return ""
        high, self.high = self.high, None
        return chr(high)


class StringFieldReader:
    """Feed pieces of a JSON object; get back the new text of its top-level string
    ``field``."""

    def __init__(self, field: str) -> None:
        self.field = field
        self._depth = 0
        self._expect = _Expect.OTHER
        self._string: _String | None = None
        self._key: list[str] | None = None  # the top-level key being read, if any
        self._matched = False  # the last top-level key was ``field``
        self._target = False  # the open string is the field's value
        self.done = False

    def feed(self, piece: str) -> str:
        out: list[str] = []
        for char in piece:
            if self.done:
                break
            if self._string is not None:
                out.append(self._in_string(self._string, char))
            else:
                self._structure(char)
        return "".join(out)

    def _in_string(self, string: _String, char: str) -> str:
        text = string.feed(char)
        if self._key is not None:
            self._key.append(text)
        if not string.closed:
            return text if self._target else ""
        self._string = None
        if self._target:
            self.done = True
            return text
        if self._key is not None:
            self._matched, self._key = "".join(self._key) == self.field, None
            self._expect = _Expect.COLON
        return ""

    def _structure(self, char: str) -> None:
        if char in _WHITESPACE:
            return
        top = self._depth == 1
        if char == '"':
            self._string = _String()
            if top and self._expect is _Expect.KEY:
                self._key = []
            elif top and self._expect is _Expect.VALUE:
                self._target = self._matched
                self._expect = _Expect.OTHER
            return
        if top and self._expect is _Expect.COLON and char == ":":
            self._expect = _Expect.VALUE
            return
        if char in "{[":
            self._depth += 1
            self._expect = _Expect.KEY if self._depth == 1 else _Expect.OTHER
        elif char in "}]":
            self._depth -= 1
        elif char == "," and top:
            self._expect = _Expect.KEY
        elif top and self._expect is _Expect.VALUE:
            self._expect = _Expect.OTHER  # a number, literal or nested value: not a string
