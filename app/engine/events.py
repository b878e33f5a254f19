"""The typed events of a turn, as the engine emits them into an ``EventSink``.

A turn says what happens in its own terms: pieces of the model's answer as they arrive
(``TokenDelta``), each step once stored (``StepCommitted``), a pause for approval
(``ApprovalRequested``), a failure (``TurnError``) and the end (``TurnEnded``). How a client
sees them (Letta's messages, a JSON response, a stream kept per run) is for the consumers to
shape; the engine knows none of them.

A step and a turn's end are stored in one transaction each, and whatever a sink keeps of them
must land in that same transaction: the engine hands them to ``EventSink.committing`` with the
transaction's session before the commit, and to ``EventSink.emit`` after it.
"""

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.engine.results import TurnOutcome
from app.messages.models import Message
from app.providers.base import Usage


class Part(StrEnum):
    """Which part of the model's answer a delta extends."""

    TEXT = "text"  # the answer's text
    REASONING = "reasoning"  # the model's own reasoning
    TOOL_CALL = "tool_call"  # a tool call: its head (name, id), then its arguments


@dataclass(frozen=True, slots=True)
class Answer:
    """The model's answer a step streams, made once per step and shared by its deltas."""

    message_id: str  # the stored message the answer becomes, if the step commits
    step_id: str
    agent_type: str
    pausing: frozenset[str]  # tools whose calls wait for an approval or the client


@dataclass(frozen=True, slots=True)
class TokenDelta:
    """New text of one part of the answer. The deltas of a part, in order, add up to that
    part of the final answer. Every delta of a tool call names it (``index`` tells parallel
    calls apart); the first may carry no text."""

    answer: Answer
    part: Part
    text: str
    index: int = 0
    name: str | None = None
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class StepCommitted:
    """A step's messages, stored: the model's answer first, then its tool results."""

    step_id: str
    agent_type: str
    messages: list[Message]
    usage: Usage
    streamed: bool  # the answer went out as ``TokenDelta`` events while the model wrote it


@dataclass(frozen=True, slots=True)
class ApprovalRequested:
    """The step's answer holds calls that wait for an approval or the client's result."""

    message_id: str
    tool_calls: list[dict[str, Any]]  # the waiting calls, as stored: id, name, arguments


@dataclass(frozen=True, slots=True)
class TurnError:
    """The turn failed (its end follows with the same error)."""

    error_type: str
    message: str


@dataclass(frozen=True, slots=True)
class Compacted:
    """The window was compacted: the summary message now stands for the older messages
    (None: summarising failed and they were evicted). Only for turns that asked to see it."""

    event_id: str
    event_data: dict[str, Any]  # what the compaction started from (Letta's event_message)
    summary: Message | None
    stats: dict[str, Any] | None  # Letta's compaction_stats


@dataclass(frozen=True, slots=True)
class TurnEnded:
    """The turn's end: its stop reason, usage, error and the run's status (``outcome``)."""

    outcome: TurnOutcome


Event = TokenDelta | StepCommitted | ApprovalRequested | Compacted | TurnError | TurnEnded
Committed = StepCommitted | Compacted | TurnEnded


class EventSink(Protocol):
    async def emit(self, event: Event) -> None:
        """An event that holds: a delta or an error as it happens, a step or an end once
        its transaction has committed."""

    async def committing(self, session: AsyncSession, *events: Committed) -> None:
        """What one transaction stores, in order, before it commits: called once per
        transaction, so a sink keeping them writes once, with ``session``."""

    def rolled_back(self) -> None:
        """The transaction of the last ``committing`` failed: its events never happened."""
