"""Typed events the agent loop emits. The JSON response, the SSE stream and the run-event log
are all consumers of these; the loop knows none of them."""

from dataclasses import dataclass
from typing import Any, Protocol

from app.runs.states import StopReason


@dataclass(frozen=True, slots=True)
class MessageEvent:
    """A whole Letta message (assistant, tool call, tool return, approval request, ...)."""

    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class StopEvent:
    stop_reason: StopReason


@dataclass(frozen=True, slots=True)
class ErrorEvent:
    error_type: str
    message: str
    detail: str | None = None


Event = MessageEvent | StopEvent | ErrorEvent


class EventSink(Protocol):
    async def emit(self, event: Event) -> None: ...


class CollectingSink:
    """Keeps every event, for the JSON response."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    async def emit(self, event: Event) -> None:
        self.events.append(event)

    @property
    def messages(self) -> list[dict[str, Any]]:
        return [e.message for e in self.events if isinstance(e, MessageEvent)]
