from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.kit.errors import BadRequest
from app.kit.pagination import Order
from app.messages.models import Message

# An agent's system message (Letta's ``message_ids[0]``) is stored at this seq; the history
# proper starts at 1. The model never gets it from the history: every step compiles the live
# system prompt instead.
SYSTEM_SEQ = 0


class ChatRow(NamedTuple):
    seq: int
    role: str
    content: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]] | None
    tool_returns: list[dict[str, Any]] | None


CHAT_COLUMNS = (
    Message.seq,
    Message.role,
    Message.content,
    Message.tool_calls,
    Message.tool_returns,
)


class MessageRepository:
    """Every message query, scoped to one organization. Messages order by per-agent ``seq``."""

    def __init__(self, session: AsyncSession, organization_id: str) -> None:
        self.session = session
        self.organization_id = organization_id

    async def allocate_seq(self, agent_id: str, count: int, **agent_values: Any) -> int | None:
        """Reserve ``count`` sequence numbers for an agent and return the first (None if the
        agent is gone). The update locks the agent row, so writers of one agent's history take
        turns; ``agent_values`` are other agent columns to set in the same statement."""
        last = await self.session.scalar(
            update(Agent)
            .where(Agent.id == agent_id, Agent.organization_id == self.organization_id)
            .values(last_message_seq=Agent.last_message_seq + count, **agent_values)
            .returning(Agent.last_message_seq)
            .execution_options(synchronize_session=False)
        )
        return None if last is None else int(last) - count + 1

    async def append(self, agent_id: str, messages: Sequence[Message], **agent_values: Any) -> bool:
        """Number ``messages`` after the agent's last one and add them; False (nothing
        added) if the agent is gone. ``agent_values`` as for ``allocate_seq``."""
        first = await self.allocate_seq(agent_id, len(messages), **agent_values)
        if first is None:
            return False
        for offset, message in enumerate(messages):
            message.seq = first + offset
        self.add_all(messages)
        return True

    def add_all(self, messages: Sequence[Message]) -> None:
        self.session.add_all(messages)

    def _agent(self, agent_id: str) -> Select[Message]:
        return select(Message).where(
            Message.agent_id == agent_id, Message.organization_id == self.organization_id
        )

    async def _seq_of(self, agent_id: str, message_id: str, name: str) -> int:
        seq = await self.session.scalar(
            select(Message.seq).where(
                Message.id == message_id,
                Message.agent_id == agent_id,
                Message.organization_id == self.organization_id,
            )
        )
        if seq is None:
            raise BadRequest(f"{name}: no message with id {message_id!r} in this list")
        return int(seq)

    async def list_page(
        self,
        agent_id: str,
        *,
        limit: int,
        order: Order,
        after: str | None = None,
        before: str | None = None,
        group_id: str | None = None,
        run_id: str | None = None,
    ) -> list[Message]:
        """Cursors are chronological whatever the order; ``order=desc`` picks the newest page.
        The result is always oldest first, as Letta returns it."""
        stmt = self._agent(agent_id)
        if after is not None:
            stmt = stmt.where(Message.seq > await self._seq_of(agent_id, after, "after"))
        if before is not None:
            stmt = stmt.where(Message.seq < await self._seq_of(agent_id, before, "before"))
        if group_id is not None:
            stmt = stmt.where(Message.group_id == group_id)
        if run_id is not None:
            stmt = stmt.where(Message.run_id == run_id)
        newest_first = order is Order.desc and after is None
        stmt = stmt.order_by(Message.seq.desc() if newest_first else Message.seq.asc())
        rows = list((await self.session.scalars(stmt.limit(limit))).all())
        return rows[::-1] if newest_first else rows

    async def in_context(self, agent_id: str, start_seq: int, limit: int) -> list[ChatRow]:
        """The newest ``limit`` messages from ``start_seq`` on, oldest first: plain rows with
        just what the model sees (this runs on every step, so no ORM objects)."""
        stmt = (
            select(*CHAT_COLUMNS)
            .where(Message.agent_id == agent_id, Message.organization_id == self.organization_id)
            .where(Message.seq >= start_seq, Message.seq > SYSTEM_SEQ)
            .order_by(Message.seq.desc())
            .limit(limit)
        )
        rows = (await self.session.execute(stmt)).all()
        return [ChatRow(*row) for row in reversed(rows)]

    async def in_context_ids(self, agent_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each agent's in-context message ids, oldest first: its system message, then every
        message from its ``context_start_seq`` on (what the next step will read from)."""
        ids: dict[str, list[str]] = defaultdict(list)
        if not agent_ids:
            return ids
        stmt = (
            select(Message.agent_id, Message.id)
            .join(Agent, Agent.id == Message.agent_id)
            .where(Message.agent_id.in_(agent_ids), Message.organization_id == self.organization_id)
            .where(or_(Message.seq == SYSTEM_SEQ, Message.seq >= Agent.context_start_seq))
            .order_by(Message.agent_id, Message.seq)
        )
        for agent_id, message_id in await self.session.execute(stmt):
            ids[agent_id].append(message_id)
        return ids

    async def system_message(self, agent_id: str) -> Message | None:
        return await self.session.scalar(self._agent(agent_id).where(Message.seq == SYSTEM_SEQ))

    async def delete_history(self, agent_id: str) -> None:
        """Delete every message of the agent but its system message."""
        await self.session.execute(
            delete(Message).where(
                Message.agent_id == agent_id,
                Message.organization_id == self.organization_id,
                Message.seq > SYSTEM_SEQ,
            )
        )

    async def latest(self, agent_id: str, *, role: str) -> Message | None:
        stmt = self._agent(agent_id).where(Message.role == role)
        return await self.session.scalar(stmt.order_by(Message.seq.desc()).limit(1))

    async def for_run(self, run_id: str) -> list[Message]:
        stmt = select(Message).where(
            Message.run_id == run_id, Message.organization_id == self.organization_id
        )
        return list((await self.session.scalars(stmt.order_by(Message.seq))).all())

    async def search(
        self,
        agent_id: str,
        *,
        query: str | None,
        roles: Sequence[str],
        limit: int,
        start: datetime | None,
        end: datetime | None,
    ) -> list[Message]:
        stmt = self._agent(agent_id).where(Message.text.is_not(None))
        if query:
            # Typed as the column, so the query is escaped as the stored text is.
            lowered = func.lower(Message.text, type_=Message.text.type)
            stmt = stmt.where(lowered.contains(query.lower(), autoescape=True))
        if roles:
            stmt = stmt.where(Message.role.in_(roles))
        if start is not None:
            stmt = stmt.where(Message.created_at >= start)
        if end is not None:
            stmt = stmt.where(Message.created_at <= end)
        stmt = stmt.order_by(Message.seq.desc()).limit(limit)
        return list((await self.session.scalars(stmt)).all())
