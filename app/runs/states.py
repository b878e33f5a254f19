"""What a run can be and why a turn stops: the values Letta's API shows, as enums.

They are ``StrEnum``s, so they compare equal to (and serialise as) the strings stored in the
database and sent on the wire; code names them through these enums, never as free strings.
This module imports nothing of the app: the engine, the providers and the stream consumers
name stop reasons without depending on the run lifecycle (``app.runs.lifecycle``), which
holds the kinds of run and every transition between these states.
"""

from enum import StrEnum


class RunStatus(StrEnum):
    created = "created"  # accepted, not started: queued, or waiting for its debounce
    running = "running"  # held by a process under a lease
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"


# Ordered tuples, not sets: they render SQL ``IN`` lists in a stable order.
ACTIVE: tuple[RunStatus, ...] = (RunStatus.created, RunStatus.running)
ENDED: tuple[RunStatus, ...] = (RunStatus.completed, RunStatus.failed, RunStatus.cancelled)


class StopReason(StrEnum):
    """Why a turn ended (Letta's ``StopReasonType``)."""

    end_turn = "end_turn"  # the model answered without a tool call
    tool_rule = "tool_rule"  # a terminal tool was called
    max_steps = "max_steps"
    requires_approval = "requires_approval"  # paused on a tool call awaiting a decision
    cancelled = "cancelled"
    error = "error"
    llm_api_error = "llm_api_error"
    invalid_llm_response = "invalid_llm_response"
    invalid_tool_call = "invalid_tool_call"
    no_tool_call = "no_tool_call"  # the agent must call a tool and did not
    max_tokens_exceeded = "max_tokens_exceeded"
    context_window_overflow_in_system_prompt = "context_window_overflow_in_system_prompt"
    insufficient_credits = "insufficient_credits"


FAILING: frozenset[StopReason] = frozenset(
    {
        StopReason.error,
        StopReason.llm_api_error,
        StopReason.invalid_llm_response,
        StopReason.invalid_tool_call,
        StopReason.no_tool_call,
        StopReason.max_tokens_exceeded,
        StopReason.context_window_overflow_in_system_prompt,
        StopReason.insufficient_credits,
    }
)


def status_for(stop_reason: str) -> RunStatus:
    """The status a run ends in when its turn stopped for ``stop_reason`` (Letta's mapping:
    a pause for approval completes the run; the agent carries the pending call)."""
    if stop_reason == StopReason.cancelled:
        return RunStatus.cancelled
    return RunStatus.failed if stop_reason in FAILING else RunStatus.completed
