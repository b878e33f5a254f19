from typing import Any

from pydantic import Field

from app.kit.schemas import ResponseModel, Timestamp


class RunResponse(ResponseModel):
    id: str
    agent_id: str
    status: str
    stop_reason: str | None
    background: bool
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    request_config: dict[str, Any] | None
    created_at: Timestamp
    completed_at: Timestamp | None
    ttft_ns: int | None
    total_duration_ns: int | None
    kind: str
    group_id: str | None
    parent_run_id: str | None
    attempts: int
    started_at: Timestamp | None
    error: dict[str, Any] | None
    usage: dict[str, Any] | None
    conversation_id: str | None = None
    base_template_id: str | None = None
    callback_url: str | None = None
    callback_sent_at: Timestamp | None = None
    callback_status_code: int | None = None
    callback_error: str | None = None


class StepResponse(ResponseModel):
    id: str
    run_id: str
    agent_id: str
    provider_name: str | None
    provider_category: str = "base"
    model: str | None
    model_endpoint: str | None
    context_window_limit: int | None
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cached_input_tokens: int | None
    reasoning_tokens: int | None
    stop_reason: str | None
    status: str
    error_type: str | None
    error_data: dict[str, Any] | None
    created_at: Timestamp


class RunUsage(ResponseModel):
    completion_tokens: int
    prompt_tokens: int
    total_tokens: int
    prompt_tokens_details: dict[str, Any] | None = None
    completion_tokens_details: dict[str, Any] | None = None
