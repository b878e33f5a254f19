"""The recent history of the agents this process served last, decoded once.

A step reads up to ``context_max_messages`` of an agent's newest messages, and from one turn
to the next all but the few new ones are the same rows. A stored message never changes (its
``seq`` is allocated under the agent's row lock and never handed out again once committed),
so a row decoded here, with what the model sees of it, is reused for as long as the agent's
window holds it: each step's read returns the full columns of the new rows only. Every entry
is checked against the row's id, so a number given out again after a rollback is read anew.
"""

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

# Agents whose windows are kept; the least recently served are dropped first.
MAX_AGENTS = 2048


@dataclass(slots=True)
class ChatRow:
    """One message of a step's context, as the model sees it (``chat`` and its estimated
    ``tokens`` are filled in once, by the context builder)."""

    seq: int
    role: str
    content: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]] | None
    tool_returns: list[dict[str, Any]] | None
    chat: list[dict[str, Any]] | None = None
    tokens: int = 0


# seq -> (message id, row), for one agent's last window
Window = dict[int, tuple[str, ChatRow]]


class RecentRows:
    def __init__(self, max_agents: int = MAX_AGENTS) -> None:
        self._windows: OrderedDict[str, Window] = OrderedDict()
        self._max = max_agents

    def get(self, key: str) -> Window:
        window = self._windows.get(key)
        if window is None:
            return {}
        self._windows.move_to_end(key)
        return window

    def keep(self, key: str, window: Window) -> None:
        self._windows[key] = window
        self._windows.move_to_end(key)
        while len(self._windows) > self._max:
            self._windows.popitem(last=False)

    def clear(self) -> None:
        self._windows.clear()


RECENT = RecentRows()


class SummaryTexts:
    """The texts of the summary messages the agents' windows start with, by message id. A
    summary message never changes, so a step reads its window's summary from here and the
    database is asked once per process (or when it was pushed out)."""

    def __init__(self, max_entries: int = MAX_AGENTS) -> None:
        self._texts: OrderedDict[str, str] = OrderedDict()
        self._max = max_entries

    def get(self, message_id: str) -> str | None:
        text = self._texts.get(message_id)
        if text is not None:
            self._texts.move_to_end(message_id)
        return text

    def keep(self, message_id: str, text: str) -> str:
        self._texts[message_id] = text
        self._texts.move_to_end(message_id)
        while len(self._texts) > self._max:
            self._texts.popitem(last=False)
        return text

    def clear(self) -> None:
        self._texts.clear()


SUMMARIES = SummaryTexts()
