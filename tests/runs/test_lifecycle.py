"""The run lifecycle's declarations: each kind's executor and hooks resolve, the states are
Letta's, and a stop reason ends a run in the status Letta gives it."""

import inspect
from typing import get_args

import pytest

from app.runs import lifecycle
from app.runs.endpoints import StatusFilter
from app.runs.lifecycle import POLICIES, RunKind
from app.runs.states import ENDED, RunStatus, StopReason, status_for


def test_every_kind_has_a_policy_and_queued_kinds_an_executor() -> None:
    assert set(POLICIES) == set(RunKind)
    for kind, policy in POLICIES.items():
        assert (policy.executor is not None) == policy.queued, kind
        for target in (policy.executor, policy.abandoned):
            if target is not None:
                assert callable(lifecycle._load(target)), target
    assert set(lifecycle.QUEUED_KINDS) == {RunKind.async_, RunKind.sleeptime}
    assert set(lifecycle.TURN_KINDS) == {RunKind.foreground, RunKind.async_}


def test_the_abandoned_hooks_take_the_session_and_the_run() -> None:
    for policy in POLICIES.values():
        if policy.abandoned is not None:
            hook = lifecycle._load(policy.abandoned)
            assert inspect.iscoroutinefunction(hook)
            assert len(inspect.signature(hook).parameters) == 2


def test_a_foreground_turn_has_no_dispatcher_executor() -> None:
    with pytest.raises(LookupError):
        lifecycle.executor(RunKind.foreground, object())


def test_the_values_are_the_wire_strings() -> None:
    assert RunKind.async_ == "async" and f"{RunKind.async_}" == "async"
    assert set(get_args(StatusFilter)) == set(RunStatus)
    assert set(StopReason) >= {
        "end_turn",
        "error",
        "llm_api_error",
        "invalid_llm_response",
        "invalid_tool_call",
        "max_steps",
        "max_tokens_exceeded",
        "no_tool_call",
        "tool_rule",
        "cancelled",
        "requires_approval",
        "context_window_overflow_in_system_prompt",
    }


@pytest.mark.parametrize(
    ("stop_reason", "status"),
    [
        ("end_turn", "completed"),
        ("max_steps", "completed"),
        ("tool_rule", "completed"),
        ("requires_approval", "completed"),
        ("cancelled", "cancelled"),
        ("error", "failed"),
        ("llm_api_error", "failed"),
        ("invalid_llm_response", "failed"),
        ("invalid_tool_call", "failed"),
        ("no_tool_call", "failed"),
        ("max_tokens_exceeded", "failed"),
        ("context_window_overflow_in_system_prompt", "failed"),
        ("insufficient_credits", "failed"),
    ],
)
def test_a_stop_reason_ends_a_run_in_letta_s_status(stop_reason: str, status: str) -> None:
    assert status_for(stop_reason) == status
    assert status_for(stop_reason) in ENDED
