"""The outcome of a step and of a turn."""

from dataclasses import dataclass
from typing import Any

from app.providers.base import Usage
from app.runs.states import RunStatus, StopReason, status_for


@dataclass(slots=True)
class UsageTotals:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    step_count: int = 0
    cached_input_tokens: int | None = None
    reasoning_tokens: int | None = None

    def add(self, usage: Usage) -> None:
        self.prompt_tokens += usage.prompt_tokens
        self.completion_tokens += usage.completion_tokens
        self.step_count += 1
        if usage.cached_input_tokens is not None:
            self.cached_input_tokens = (self.cached_input_tokens or 0) + usage.cached_input_tokens
        if usage.reasoning_tokens is not None:
            self.reasoning_tokens = (self.reasoning_tokens or 0) + usage.reasoning_tokens


@dataclass(slots=True)
class TurnOutcome:
    stop_reason: StopReason
    usage: UsageTotals
    error: dict[str, Any] | None = None
    ttft_ns: int | None = None
    last_seq: int | None = None  # the turn's last stored message, if it stored any
    last_message_id: str | None = None
    run_ids: list[str] | None = None  # sleeptime runs the turn's end queued
    sleeptime_enabled: bool = False  # whether the turn's end should look for a trigger
    last_run_recorded: bool = False  # the agent's last-run columns were set with the last step
    # What each compaction of the turn's window did (the run's ``metadata.compaction``).
    compactions: list[dict[str, Any]] | None = None
    sleeptime_forced: bool = False  # the turn compacted: its sleeptime agents run now

    @property
    def status(self) -> RunStatus:
        return status_for(self.stop_reason)
