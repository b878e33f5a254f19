"""The events that close every run's stream, after its messages."""

from typing import Any

from app.engine.results import TurnOutcome
from app.runs.states import RunStatus
from app.streaming.hub import DONE


def closing_events(outcome: TurnOutcome) -> list[dict[str, Any] | str]:
    """``stop_reason``, then ``usage_statistics`` (or, when the run failed, an
    ``error_message``), then ``[DONE]``: the order Letta clients expect."""
    events: list[dict[str, Any] | str] = [
        {"message_type": "stop_reason", "stop_reason": outcome.stop_reason}
    ]
    if outcome.status == RunStatus.failed:
        error = outcome.error or {}
        events.append(
            {
                "message_type": "error_message",
                "error_type": error.get("type", "internal_error"),
                "message": error.get("message", "the run failed"),
                "detail": None,
            }
        )
    else:
        events.append(outcome.usage.letta(outcome.run_ids))
    events.append(DONE)
    return events
