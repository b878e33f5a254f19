from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, JSONType, TimestampMixin, UTCDateTime


class Agent(TimestampMixin, Base):
    __tablename__ = "agents"
    __table_args__ = (Index("ix_agents_org_created", "organization_id", "created_at", "id"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(255))
    agent_type: Mapped[str] = mapped_column(String(32))
    system: Mapped[str] = mapped_column(Text)
    description: Mapped[str | None] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSONType)
    model: Mapped[str] = mapped_column(String(255))
    embedding: Mapped[str | None] = mapped_column(String(255))
    model_settings: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    context_window_limit: Mapped[int | None] = mapped_column(Integer)
    max_tokens: Mapped[int | None] = mapped_column(Integer)
    tool_names: Mapped[list[str]] = mapped_column(JSONType, default=list)
    tool_rules: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    enable_sleeptime: Mapped[bool] = mapped_column(Boolean, default=False)
    message_buffer_autoclear: Mapped[bool] = mapped_column(Boolean, default=False)
    timezone: Mapped[str | None] = mapped_column(String(64))
    hidden: Mapped[bool | None] = mapped_column(Boolean)
    # The last per-agent message sequence number handed out; messages order by it.
    last_message_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # Messages with a lower seq have been evicted from the context window (kept in history).
    context_start_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    # The message that summarises what compaction took out of the window, shown first in it.
    summary_message_id: Mapped[str | None] = mapped_column(String(64))
    # Letta's ``compaction_settings`` (how and with which model the window is summarised).
    compaction_settings: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    last_run_completion: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_run_duration_ms: Mapped[int | None] = mapped_column(BigInteger)
    last_stop_reason: Mapped[str | None] = mapped_column(String(64))
    # Set while a turn is paused on tool calls: {message_id, run_id, tool_call_ids}.
    pending_approval: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Structured output the model must follow (Letta's response_format), sent with each call.
    response_format: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    # Environment variables the agent's tools run with (Letta's ``secrets``, formerly
    # ``tool_exec_environment_variables``): {key: value}.
    secrets: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class AgentTag(Base):
    __tablename__ = "agent_tags"
    __table_args__ = (Index("ix_agent_tags_org_tag", "organization_id", "tag"),)

    agent_id: Mapped[str] = mapped_column(
        ForeignKey("agents.id", ondelete="CASCADE"), primary_key=True
    )
    tag: Mapped[str] = mapped_column(String(255), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
