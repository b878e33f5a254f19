"""Letta's shapes for archives and passages (``schemas/archive.py``, ``schemas/passage.py``)."""

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field

from app.archival.models import Archive, Passage
from app.kit.schemas import RequestModel, ResponseModel, Timestamp
from app.providers.schemas import EMBEDDING_DIMS

TagMatchMode = Literal["any", "all"]


def as_utc(value: datetime | None) -> datetime | None:
    """A time without a zone is taken as UTC (timestamps are stored in UTC)."""
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


When = Annotated[datetime | None, AfterValidator(as_utc)]
Tag = Annotated[str, Field(min_length=1, max_length=255)]
MAX_TEXT = 100_000
MAX_TAGS = 64


def embedding_config(handle: str | None, dim: int | None = None) -> dict[str, Any] | None:
    """Letta's EmbeddingConfig for a model handle (``provider/model``)."""
    if not handle:
        return None
    provider, _, model = handle.partition("/")
    return {
        "handle": handle,
        "embedding_model": model,
        "embedding_endpoint_type": provider,
        "embedding_dim": dim or EMBEDDING_DIMS.get(model),
    }


class ArchiveCreate(RequestModel):
    name: str = Field(min_length=1, max_length=255)
    description: str | None = None
    embedding: str | None = Field(default=None, max_length=255)
    embedding_config: dict[str, Any] | None = None


class ArchiveUpdate(RequestModel):
    name: str | None = Field(default=None, min_length=1, max_length=255)
    description: str | None = None


class ArchiveResponse(ResponseModel):
    id: str
    name: str
    description: str | None
    organization_id: str
    embedding_config: dict[str, Any] | None
    vector_db_provider: str = "native"
    metadata: dict[str, Any] | None
    created_by_id: str | None = None
    last_updated_by_id: str | None = None
    created_at: Timestamp
    updated_at: Timestamp | None

    @classmethod
    def of(cls, archive: Archive) -> "ArchiveResponse":
        return cls(
            id=archive.id,
            name=archive.name,
            description=archive.description,
            organization_id=archive.organization_id,
            embedding_config=embedding_config(archive.embedding),
            metadata=archive.metadata_,
            created_at=archive.created_at,
            updated_at=archive.updated_at,
        )


class PassageResponse(ResponseModel):
    id: str
    text: str
    archive_id: str
    organization_id: str
    tags: list[str]
    metadata: dict[str, Any]
    embedding: list[float] | None = None  # vectors stay in the database
    embedding_config: dict[str, Any] | None
    file_id: str | None = None
    file_name: str | None = None
    source_id: str | None = None
    is_deleted: bool = False
    created_by_id: str | None = None
    last_updated_by_id: str | None = None
    created_at: Timestamp
    updated_at: Timestamp | None

    @classmethod
    def of(cls, passage: Passage) -> "PassageResponse":
        return cls(
            id=passage.id,
            text=passage.text,
            archive_id=passage.archive_id,
            organization_id=passage.organization_id,
            tags=passage.tags,
            metadata=passage.metadata_,
            embedding_config=embedding_config(passage.embedding_model, passage.embedding_dim),
            created_by_id=passage.agent_id,
            created_at=passage.created_at,
            updated_at=passage.updated_at,
        )


class PassageCreate(RequestModel):
    """One passage to store; ``created_at`` backdates it."""

    text: str = Field(min_length=1, max_length=MAX_TEXT)
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    metadata: dict[str, Any] | None = None
    created_at: When = None


class PassageBatchCreate(RequestModel):
    passages: list[PassageCreate] = Field(min_length=1, max_length=1000)


class AgentSearchResult(ResponseModel):
    id: str
    content: str
    timestamp: str
    tags: list[str]


class AgentSearchResponse(ResponseModel):
    count: int
    results: list[AgentSearchResult]


class PassageSearchRequest(RequestModel):
    query: str | None = Field(default=None, max_length=MAX_TEXT)
    agent_id: str | None = None
    archive_id: str | None = None
    tags: list[Tag] | None = Field(default=None, max_length=MAX_TAGS)
    tag_match_mode: TagMatchMode = "any"
    start_date: When = None
    end_date: When = None
    limit: int = Field(default=50, ge=1, le=100)


class PassageSearchItem(ResponseModel):
    passage: PassageResponse
    score: float
    metadata: dict[str, Any] | None = None
