from typing import Literal

from pydantic import Field

from app.kit.ids import Prefix, id_pattern
from app.kit.schemas import INT32_MAX, RequestModel, ResponseModel, Seconds, Timestamp

AGENT_ID = id_pattern(Prefix.agent)


class SleeptimeManagerConfig(RequestModel):
    manager_type: Literal["sleeptime"]
    manager_agent_id: str = Field(pattern=AGENT_ID)
    sleeptime_agent_frequency: int | None = Field(default=None, ge=1, le=INT32_MAX)
    sleeptime_debounce_seconds: Seconds | None = None
    sleeptime_archival_insert: bool = False  # an extension (see the README)


class SleeptimeManagerUpdate(RequestModel):
    manager_type: Literal["sleeptime"]
    manager_agent_id: str | None = Field(default=None, pattern=AGENT_ID)
    sleeptime_agent_frequency: int | None = Field(default=None, ge=1, le=INT32_MAX)
    sleeptime_debounce_seconds: Seconds | None = None
    sleeptime_archival_insert: bool | None = None


class GroupCreate(RequestModel):
    agent_ids: list[str] = Field(min_length=1)
    description: str = ""
    manager_config: SleeptimeManagerConfig
    hidden: bool | None = None


class GroupUpdate(RequestModel):
    agent_ids: list[str] | None = Field(default=None, min_length=1)
    description: str | None = None
    manager_config: SleeptimeManagerUpdate | None = None
    hidden: bool | None = None


class GroupResponse(ResponseModel):
    id: str
    manager_type: str
    agent_ids: list[str]
    description: str
    manager_agent_id: str | None
    sleeptime_agent_frequency: int | None
    turns_counter: int | None
    last_processed_message_id: str | None
    sleeptime_debounce_seconds: float | None = None
    # Extensions: how far behind the sleeptime side is.
    turns_since_last_processed: int = 0
    last_sleeptime_run_id: str | None = None
    last_sleeptime_run_status: str | None = None
    sleeptime_archival_insert: bool = False
    max_turns: int | None = None
    termination_token: str | None = None
    max_message_buffer_length: int | None = None
    min_message_buffer_length: int | None = None
    shared_block_ids: list[str] = []
    hidden: bool | None = None
    project_id: str | None = None
    template_id: str | None = None
    base_template_id: str | None = None
    deployment_id: str | None = None
    created_at: Timestamp
    updated_at: Timestamp
