"""Every conversation query, scoped to one organization. Deleted conversations are kept
(``is_deleted``) and never returned."""

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, Select, and_, case, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute

from app.conversations.models import Conversation
from app.kit.errors import BadRequest
from app.kit.pagination import Order
from app.kit.repository import Repository
from app.messages.chat import SUMMARY_ROLE
from app.messages.models import Message
from app.messages.repository import SYSTEM_SEQ
from app.runs.models import Run

OrderBy = Literal["created_at", "last_run_completion"]


def _sort_key(order_by: OrderBy) -> ColumnElement[datetime] | InstrumentedAttribute[datetime]:
    """What a list is ordered by (then by id). ``last_run_completion`` is read from the
    conversation's runs (its turns write nothing to its row, see ``app.messages.thread``);
    a conversation none of whose runs has ended sorts by its creation time."""
    if order_by == "last_run_completion":
        last = (
            select(func.max(Run.completed_at))
            .where(
                Run.conversation_id == Conversation.id,
                Run.organization_id == Conversation.organization_id,
            )
            .correlate(Conversation)
            .scalar_subquery()
        )
        return func.coalesce(last, Conversation.created_at)
    return Conversation.created_at


class ConversationRepository(Repository):
    def _live(self) -> Select[Conversation]:
        return select(Conversation).where(
            Conversation.organization_id == self.organization_id,
            Conversation.is_deleted.is_(False),
        )

    def add(self, conversation: Conversation) -> None:
        self.session.add(conversation)

    async def get(self, conversation_id: str, *, for_update: bool = False) -> Conversation | None:
        stmt = self._live().where(Conversation.id == conversation_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def list_page(
        self,
        *,
        agent_id: str | None,
        limit: int,
        after: str | None,
        order: Order,
        order_by: OrderBy,
        summary_search: str | None,
    ) -> Sequence[Conversation]:
        key = _sort_key(order_by)
        descending = order is Order.desc
        stmt = self._live().where(Conversation.hidden.is_(False))
        if agent_id is not None:
            stmt = stmt.where(Conversation.agent_id == agent_id)
        if summary_search:
            lowered = func.lower(Conversation.summary, type_=Conversation.summary.type)
            stmt = stmt.where(lowered.contains(summary_search.lower(), autoescape=True))
        if after is not None:
            row = (
                await self.session.execute(
                    select(key, Conversation.id).where(
                        Conversation.id == after,
                        Conversation.organization_id == self.organization_id,
                    )
                )
            ).first()
            if row is None:
                raise BadRequest(f"after: no conversation with id {after!r} to page from")
            value, ident = row
            if descending:
                beyond = or_(key < value, and_(key == value, Conversation.id < ident))
            else:
                beyond = or_(key > value, and_(key == value, Conversation.id > ident))
            stmt = stmt.where(beyond)
        columns = (key, Conversation.id)
        stmt = stmt.order_by(*(c.desc() if descending else c.asc() for c in columns))
        return (await self.session.scalars(stmt.limit(limit))).all()

    async def in_context_ids(self, conversation: Conversation) -> list[str]:
        """The conversation's in-context message ids, oldest first: the agent's system
        message, the conversation's summary message (if compaction wrote one), then the
        conversation's messages from its window's start."""
        summary = Message.id == conversation.summary_message_id
        stmt = (
            select(Message.id)
            .where(
                Message.agent_id == conversation.agent_id,
                Message.organization_id == self.organization_id,
            )
            .where(
                or_(
                    and_(Message.seq == SYSTEM_SEQ, Message.conversation_id.is_(None)),
                    and_(Message.conversation_id == conversation.id, summary),
                    and_(
                        Message.conversation_id == conversation.id,
                        Message.seq >= conversation.context_start_seq,
                        Message.role != SUMMARY_ROLE,
                    ),
                )
            )
            .order_by(case((Message.seq == SYSTEM_SEQ, 0), (summary, 1), else_=2), Message.seq)
        )
        return list((await self.session.scalars(stmt)).all())

    async def save(self, conversation: Conversation, values: dict[str, Any]) -> None:
        for name, value in values.items():
            setattr(conversation, name, value)
        await self.session.flush()
