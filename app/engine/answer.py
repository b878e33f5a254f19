"""The model's answer as a step stores it: its content parts, the text that makes it
searchable, and the step row's usage."""

from typing import Any

from app.messages.convert import SEND_MESSAGE
from app.providers.base import LLMResponse
from app.runs.models import Step


def fill_usage(row: Step, response: LLMResponse, stop: str | None) -> None:
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
