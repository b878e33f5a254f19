from typing import Any

from sqlalchemy import BigInteger, Boolean, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, JSONType, TimestampMixin


class Group(TimestampMixin, Base):
    """A sleeptime group: ``manager_agent_id`` is the primary, members are sleeptime agents."""

    __tablename__ = "groups"
    __table_args__ = (Index("ix_groups_org_created", "organization_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    manager_type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text, default="")
    manager_agent_id: Mapped[str | None] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), unique=True
    )
    sleeptime_agent_frequency: Mapped[int | None] = mapped_column(Integer)
    turns_counter: Mapped[int | None] = mapped_column(Integer)
    last_processed_message_id: Mapped[str | None] = mapped_column(String(64))
    sleeptime_debounce_seconds: Mapped[float | None] = mapped_column(Float)
    budgets: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # The members are given archival_memory_insert, filing into the manager's own archive.
    sleeptime_archival_insert: Mapped[bool] = mapped_column(Boolean, default=False)


class GroupAgent(Base):
    __tablename__ = "group_agents"

    group_id: Mapped[str] = mapped_column(
        ForeignKey("groups.id", ondelete="CASCADE"), primary_key=True
    )
    agent_id: Mapped[str] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer, default=0)
    # The member's watermark: the highest primary message seq a completed run of it covered.
    processed_through_seq: Mapped[int] = mapped_column(BigInteger, default=0)
