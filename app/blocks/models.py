from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, JSONType, TimestampMixin, UTCDateTime, utcnow


class Block(TimestampMixin, Base):
    __tablename__ = "blocks"
    __table_args__ = (Index("ix_blocks_org_created", "organization_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)
    limit: Mapped[int] = mapped_column("char_limit", Integer)
    description: Mapped[str | None] = mapped_column(Text)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    tags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # Incremented on every change of the value: the optimistic-concurrency token of edits.
    version: Mapped[int] = mapped_column(Integer, default=1)


class AgentBlock(Base):
    """Blocks are shared rows: the primary and its sleeptime agents point at the same block."""

    __tablename__ = "agent_blocks"

    agent_id: Mapped[str] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    block_id: Mapped[str] = mapped_column(
        ForeignKey("blocks.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BlockHistory(Base):
    """Every value a block has had, with who set it: the API, or an agent during a run."""

    __tablename__ = "block_history"
    __table_args__ = (UniqueConstraint("block_id", "version"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    block_id: Mapped[str] = mapped_column(ForeignKey("blocks.id", ondelete="CASCADE"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    label: Mapped[str] = mapped_column(String(255))
    value: Mapped[str] = mapped_column(Text)
    actor_type: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
