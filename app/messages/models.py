from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, JSONType, UTCDateTime, utcnow
from app.kit.storable import SafeString, SafeText

_IN_CONVERSATION = text("conversation_id IS NOT NULL")


class Message(Base):
    """One stored message of an agent, ordered by its per-agent ``seq``. Columns that may
    hold model output keep U+0000 escaped (``app.kit.storable``; JSON columns always do)."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("agent_id", "seq"),
        Index("ix_messages_run_id", "run_id"),
        Index(
            "ix_messages_conversation",
            "conversation_id",
            "seq",
            sqlite_where=_IN_CONVERSATION,
            postgresql_where=_IN_CONVERSATION,
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    seq: Mapped[int] = mapped_column(BigInteger)
    role: Mapped[str] = mapped_column(String(16))
    content: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    tool_calls: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    tool_call_id: Mapped[str | None] = mapped_column(String(255))
    tool_returns: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    approvals: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONType)
    name: Mapped[str | None] = mapped_column(SafeString(255))
    otid: Mapped[str | None] = mapped_column(String(255))
    sender_id: Mapped[str | None] = mapped_column(String(255))
    step_id: Mapped[str | None] = mapped_column(String(64))
    run_id: Mapped[str | None] = mapped_column(String(64))
    group_id: Mapped[str | None] = mapped_column(String(64))
    # None for the agent's main thread.
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    # Set on a copy made by forking a conversation: the message it copies.
    forked_from_id: Mapped[str | None] = mapped_column(String(64))
    is_err: Mapped[bool] = mapped_column(Boolean, default=False)
    text: Mapped[str | None] = mapped_column(SafeText)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
