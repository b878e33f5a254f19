"""The Letta form of a turn's end: the events that close every run's stream, after its
messages, and the usage statistics a run keeps and its responses show."""

from typing import Any

from app.engine.results import TurnOutcome, UsageTotals
from app.runs.states import RunStatus
from app.streaming.hub import DONE


def usage_statistics(
    usage: UsageTotals | None = None, run_ids: list[str] | None = None
) -> dict[str, Any]:
    """Letta's ``usage_statistics`` of a turn (all zero for a turn that has none)."""
    usage = usage or UsageTotals()
    return {
        "message_type": "usage_statistics",
        "completion_tokens": usage.completion_tokens,
        "prompt_tokens": usage.prompt_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "step_count": usage.step_count,
        "run_ids": run_ids,
        "cached_input_tokens": usage.cached_input_tokens,
        "cache_write_tokens": None,
        "reasoning_tokens": usage.reasoning_tokens,
        "context_tokens": None,
    }


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
        events.append(usage_statistics(outcome.usage, outcome.run_ids))
    events.append(DONE)
    return events
