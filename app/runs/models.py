from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from app.kit.db import Base, JSONType, TimestampMixin, UTCDateTime, utcnow
from app.runs.states import RunStatus

# Index predicates are SQL text, as the migrations wrote them; the statuses are ``RunStatus``'s
# values. None names a kind: a run carries what its kind's policy rules for it (``turn``,
# ``joins``: ``app.runs.lifecycle``), and only queued kinds' runs ever wait, so a new kind
# needs no new index.
JOINED_WAITING = "joins AND status = 'created'"
_JOINED_WAITING = text(JOINED_WAITING)
_JOINED_RUNNING = text("joins AND status = 'running'")
# Public: a query whose WHERE holds one of these verbatim can use its partial index (SQLite
# proves a partial index usable only from literal terms, never from bound parameters).
QUEUED = text("status = 'created'")
LEASED = text("status = 'running'")
_IDEMPOTENT = text("idempotency_key IS NOT NULL")
_ACTIVE = "turn AND status IN ('created', 'running')"
_MAIN_THREAD_TURN = text(f"{_ACTIVE} AND conversation_id IS NULL")
_CONVERSATION_TURN = text(f"{_ACTIVE} AND conversation_id IS NOT NULL")
_IN_CONVERSATION = text("conversation_id IS NOT NULL")


def _partial(name: str, *columns: str, where: Any, unique: bool = False) -> Index:
    return Index(name, *columns, unique=unique, sqlite_where=where, postgresql_where=where)


class Run(TimestampMixin, Base):
    """A foreground turn, a queued (async) turn, or a sleeptime job (``RunKind``).

    One active turn per thread (an agent's main one, or a conversation) among the runs of turn
    kinds, and at most one ``created`` and one ``running`` run per agent of each joining kind
    (sleeptime): partial unique indexes hold these rules.
    """

    __tablename__ = "runs"
    __table_args__ = (
        Index("ix_runs_org_created", "organization_id", "created_at", "id"),
        Index("ix_runs_agent_created", "agent_id", "created_at"),
        Index("ix_runs_parent_run_id", "parent_run_id"),
        _partial("ux_runs_joined_waiting", "agent_id", "kind", where=_JOINED_WAITING, unique=True),
        _partial("ux_runs_joined_running", "agent_id", "kind", where=_JOINED_RUNNING, unique=True),
        _partial("ix_runs_queue", "available_at", "created_at", where=QUEUED),
        _partial("ix_runs_lease", "lease_expires_at", where=LEASED),
        _partial("ux_runs_agent_active_turn", "agent_id", where=_MAIN_THREAD_TURN, unique=True),
        _partial(
            "ux_runs_conversation_active_turn",
            "conversation_id",
            where=_CONVERSATION_TURN,
            unique=True,
        ),
        _partial("ix_runs_conversation", "conversation_id", "created_at", where=_IN_CONVERSATION),
        _partial(
            "ux_runs_idempotency",
            "organization_id",
            "idempotency_key",
            where=_IDEMPOTENT,
            unique=True,
        ),
    )

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"))
    group_id: Mapped[str | None] = mapped_column(String(64))
    # None for a turn on the agent's main thread.
    conversation_id: Mapped[str | None] = mapped_column(String(64))
    parent_run_id: Mapped[str | None] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    # The kind's policy, as the run was accepted (``lifecycle.opening``); no default: every
    # insert states them.
    turn: Mapped[bool] = mapped_column(Boolean)
    joins: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[str] = mapped_column(String(16), default=RunStatus.created)
    stop_reason: Mapped[str | None] = mapped_column(String(64))
    background: Mapped[bool] = mapped_column(Boolean, default=False)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    request_config: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    request: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    usage: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    ttft_ns: Mapped[int | None] = mapped_column(BigInteger)
    total_duration_ns: Mapped[int | None] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
    request_hash: Mapped[str | None] = mapped_column(String(64))
    available_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # POSTed once when the run ends (messages/async), with what came of it.
    callback_url: Mapped[str | None] = mapped_column(Text)
    callback_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    callback_status_code: Mapped[int | None] = mapped_column(Integer)
    callback_error: Mapped[str | None] = mapped_column(Text)


class Step(Base):
    """One LLM call of a run."""

    __tablename__ = "steps"
    __table_args__ = (Index("ix_steps_run_id", "run_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"))
    agent_id: Mapped[str] = mapped_column(String(64))
    provider_name: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(255))
    model_endpoint: Mapped[str | None] = mapped_column(String(1024))
    context_window_limit: Mapped[int | None] = mapped_column(Integer)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cached_input_tokens: Mapped[int | None] = mapped_column(Integer)
    reasoning_tokens: Mapped[int | None] = mapped_column(Integer)
    stop_reason: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), default="pending")
    error_type: Mapped[str | None] = mapped_column(String(64))
    error_data: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    ttft_ns: Mapped[int | None] = mapped_column(BigInteger)
    duration_ns: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RunEvent(Base):
    """The ordered stream events of a run, kept so any replica can replay and resume them."""

    __tablename__ = "run_events"

    run_id: Mapped[str] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
