from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, JSONType, TimestampMixin


class Conversation(TimestampMixin, Base):
    """A thread of an agent other than its main one (messages and runs without a
    ``conversation_id``). It shares the agent's blocks and sleeptime group and keeps its own
    in-context window, summary message and pending approval."""

    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_org_created", "organization_id", "created_at", "id"),
        Index("ix_conversations_agent_created", "agent_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    summary: Mapped[str | None] = mapped_column(Text)
    # The thread's messages with a lower seq have left its context window (kept in history).
    context_start_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # The message that summarises what compaction took out of the window, shown first in it.
    summary_message_id: Mapped[str | None] = mapped_column(String(64))
    pending_approval: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    is_deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    # Left out of listings (Letta's ``hidden``), still addressable by id.
    hidden: Mapped[bool] = mapped_column(Boolean, default=False)
    # The conversation's own model, overriding the agent's (None: the agent's).
    model: Mapped[str | None] = mapped_column(String(255))
    model_settings: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    context_window_limit: Mapped[int | None] = mapped_column(Integer)
    created_by_id: Mapped[str | None] = mapped_column(String(64))
    last_updated_by_id: Mapped[str | None] = mapped_column(String(64))
