from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, JSONType, TimestampMixin, UTCDateTime, utcnow


class Archive(TimestampMixin, Base):
    """A named collection of passages of one organization, attachable to several agents."""

    __tablename__ = "archives"
    __table_args__ = (Index("ix_archives_org_created", "organization_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str | None] = mapped_column(Text)
    # The handle of the model that embeds this archive's passages; None: full text only.
    embedding: Mapped[str | None] = mapped_column(String(255))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    # Raised by every write of its passages: cached vectors of an older version are stale.
    passages_version: Mapped[int] = mapped_column(BigInteger, default=0)
    # Raised by every deletion of its passages (cached vectors then drop the deleted ones).
    passages_deleted: Mapped[int] = mapped_column(BigInteger, default=0)


class ArchiveAgent(Base):
    """An agent's access to an archive; ``is_owner`` marks the agent's own default archive."""

    __tablename__ = "archives_agents"

    archive_id: Mapped[str] = mapped_column(
        ForeignKey("archives.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[str] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    is_owner: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Passage(TimestampMixin, Base):
    """A piece of archival memory. ``embedding`` holds little-endian float32 values made by
    ``embedding_model``; vectors of different models are never compared."""

    __tablename__ = "passages"
    __table_args__ = (
        Index("ix_passages_archive_created", "archive_id", "created_at", "id"),
        Index("ix_passages_archive_model", "archive_id", "embedding_model"),
        Index("ix_passages_archive_written", "archive_id", "written_version"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    archive_id: Mapped[str] = mapped_column(ForeignKey("archives.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary)
    embedding_model: Mapped[str | None] = mapped_column(String(255))
    embedding_dim: Mapped[int | None] = mapped_column(Integer)
    agent_id: Mapped[str | None] = mapped_column(String(64))  # the agent that filed it
    run_id: Mapped[str | None] = mapped_column(String(64))  # the run that filed it
    # The archive's passages_version raised by the write that stored it.
    written_version: Mapped[int] = mapped_column(BigInteger, default=0)


class PassageTag(Base):
    """One row per tag of a passage, so tag filters (any / all) are plain indexed SQL."""

    __tablename__ = "passage_tags"
    __table_args__ = (Index("ix_passage_tags_archive_tag", "archive_id", "tag"),)

    passage_id: Mapped[str] = mapped_column(
        ForeignKey("passages.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)
    archive_id: Mapped[str] = mapped_column(String(64))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
