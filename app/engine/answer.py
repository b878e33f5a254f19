"""The model's answer as a step stores it: its tool calls, content parts, the text that makes
it searchable, the step row (with its usage, or its failure) and the agent columns it moves.

Model output is stored as said: U+0000 and the like are escaped by the storage layer
(``app.kit.storable``), never altered here."""

from typing import Any

from app.kit.db import utcnow
from app.kit.repository import detached
from app.messages.chat import SEND_MESSAGE
from app.providers.base import LLMResponse, ProviderError
from app.providers.registry import ModelInfo
from app.runs.models import Step
from app.runs.states import StopReason

# Longer than any tool's name: the label a tool result carries is cut to it (so it fits its
# column even escaped), while the call keeps the name whole.
RESULT_NAME_CHARS = 120


def tool_calls(response: LLMResponse, pausing: frozenset[str]) -> list[dict[str, Any]]:
    """The calls as stored; those the client or an approval must answer are marked."""
    return [
        {"id": c.id, "name": c.name, "arguments": c.arguments}
        | ({"requires_approval": True} if c.name in pausing else {})
        for c in response.tool_calls
    ]


def result_name(called: str) -> str:
    return called[:RESULT_NAME_CHARS]


def step_row(
    *,
    step_id: str,
    organization_id: str,
    run_id: str,
    agent_id: str,
    info: ModelInfo,
    duration_ns: int,
) -> Step:
    return detached(
        Step,
        {
            "id": step_id,
            "organization_id": organization_id,
            "run_id": run_id,
            "agent_id": agent_id,
            "provider_name": info.provider,
            "model": info.model,
            "model_endpoint": info.endpoint,
            "context_window_limit": info.context_window,
            "duration_ns": duration_ns,
            "created_at": utcnow(),
        },
    )


def fill_failure(row: Step, exc: ProviderError) -> None:
    row.status, row.stop_reason, row.error_type = "failed", exc.stop_reason, exc.error_type
    row.error_data = {"message": exc.message, "status_code": exc.status_code}


def fill_usage(row: Step, response: LLMResponse, stop: StopReason | None) -> None:
    usage = response.usage
    row.prompt_tokens, row.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    row.total_tokens, row.cached_input_tokens = usage.total_tokens, usage.cached_input_tokens
    row.reasoning_tokens, row.status = usage.reasoning_tokens, "success"
    row.stop_reason = stop or "tool_calls"


def content(response: LLMResponse) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    if response.reasoning:
        parts.append({"type": "reasoning", "reasoning": response.reasoning, "is_native": True})
    if response.text:
        parts.append({"type": "text", "text": response.text})
    return parts


def searchable(response: LLMResponse) -> str | None:
    texts = [response.text] if response.text else []
    for call in response.tool_calls:
        if call.name == SEND_MESSAGE:
            texts.append(call.arguments)
    return "\n".join(texts) or None


def last_run(stop: StopReason, duration_ns: int) -> dict[str, Any]:
    """The agent's columns that describe its last turn, as the turn ends."""
    return {
        "last_stop_reason": stop,
        "last_run_completion": utcnow(),
        "last_run_duration_ms": duration_ns // 1_000_000,
    }


def agent_changes(
    *,
    context_start: tuple[int, int],
    stop: StopReason | None,
    message_id: str,
    calls: list[dict[str, Any]],
    run_id: str,
) -> dict[str, Any]:
    """Agent columns a step changes: the context window start (``(old, new)``), a pending
    approval."""
    values: dict[str, Any] = {}
    old_start, new_start = context_start
    if new_start > old_start:
        values["context_start_seq"] = new_start
    if stop == StopReason.requires_approval:
        paused = [c["id"] for c in calls if c.get("requires_approval")]
        values["pending_approval"] = {
            "message_id": message_id,
            "run_id": run_id,
            "tool_call_ids": paused,
        }
    return values
