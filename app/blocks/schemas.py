from typing import Any

from pydantic import Field, field_validator

from app.kit.schemas import INT32_MAX, RequestModel, ResponseModel, Timestamp

LABEL_PATTERN = r"^[^/]+$"


class BlockCreate(RequestModel):
    label: str = Field(min_length=1, max_length=255, pattern=LABEL_PATTERN)
    value: str = ""
    limit: int | None = Field(default=None, gt=0, le=INT32_MAX)
    description: str | None = None
    read_only: bool = False
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None

    @field_validator("value", mode="before")
    @classmethod
    def _null_value_is_empty(cls, value: object) -> object:
        return "" if value is None else value


class BlockUpdate(RequestModel):
    """Every field optional; a field left out (or null, for non-nullable ones) is unchanged."""

    label: str | None = Field(default=None, min_length=1, max_length=255, pattern=LABEL_PATTERN)
    value: str | None = None
    limit: int | None = Field(default=None, gt=0, le=INT32_MAX)
    description: str | None = None
    read_only: bool | None = None
    metadata: dict[str, Any] | None = None
    tags: list[str] | None = None


class BlockResponse(ResponseModel):
    id: str
    label: str
    value: str
    limit: int
    description: str | None
    read_only: bool
    metadata: dict[str, Any] = Field(validation_alias="metadata_")
    tags: list[str]
    version: int
    hidden: bool | None = None
    is_template: bool = False
    preserve_on_migration: bool = False
    project_id: str | None = None
    template_name: str | None = None
    template_id: str | None = None
    base_template_id: str | None = None
    deployment_id: str | None = None
    entity_id: str | None = None
    created_by_id: str | None = None
    last_updated_by_id: str | None = None
    created_at: Timestamp
    updated_at: Timestamp


class BlockHistoryEntry(ResponseModel):
    version: int
    label: str
    value: str
    actor_type: str
    agent_id: str | None
    run_id: str | None
    created_at: Timestamp
