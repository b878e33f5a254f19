"""Shapes of the context routes: Letta's CompactionRequest/Response (``/summarize``) and its
ContextWindowOverview (``/context``)."""

from typing import Any

from app.agents.compaction import CompactionSettings
from app.kit.schemas import RequestModel, ResponseModel


class CompactionRequest(RequestModel):
    # Fields set here replace the agent's own settings for this call.
    compaction_settings: CompactionSettings | None = None


class CompactionResponse(ResponseModel):
    summary: str
    num_messages_before: int
    num_messages_after: int


class ContextWindowOverview(ResponseModel):
    """The window a step would send now, part by part. Token counts are exact where the
    model's provider counts them (Anthropic), estimates elsewhere: see the README's "Context
    and compaction"."""

    context_window_size_max: int
    context_window_size_current: int
    num_messages: int
    num_archival_memory: int
    num_recall_memory: int
    num_tokens_external_memory_summary: int
    external_memory_summary: str
    num_tokens_system: int
    system_prompt: str
    num_tokens_core_memory: int
    core_memory: str
    num_tokens_memory_filesystem: int = 0
    memory_filesystem: str | None = None
    num_tokens_summary_memory: int
    summary_memory: str | None
    num_tokens_functions_definitions: int
    functions_definitions: list[dict[str, Any]] | None
    num_tokens_messages: int
    messages: list[dict[str, Any]]
