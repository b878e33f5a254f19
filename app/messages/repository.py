from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    Select,
    Text,
    and_,
    bindparam,
    case,
    delete,
    func,
    inspect,
    or_,
    select,
    type_coerce,
    update,
)

from app.agents.models import Agent
from app.kit.direct import Direct
from app.kit.errors import BadRequest
from app.kit.pagination import Order
from app.kit.repository import Repository, table_of
from app.kit.storable import loads
from app.messages.chat import SUMMARY_ROLE, text_of
from app.messages.models import Message
from app.messages.recent import RECENT, SUMMARIES, ChatRow, Window

# ``list_page``'s default: the messages of every thread of the agent (never a conversation id).
ALL_THREADS = "*"

# An agent's system message (Letta's ``message_ids[0]``) is stored at this seq; the history
# proper starts at 1. The model never gets it from the history: every step compiles the live
# system prompt instead.
SYSTEM_SEQ = 0


_AGENTS = table_of(Agent)
_NEW = Message.seq > bindparam("b_known")


def _if_new(column: Any) -> Any:
    """``column`` of a row after ``b_known`` (else NULL), with no result processor: a JSON
    column's would be called for every row of the window, where only the new rows have a
    value to decode (``_json``)."""
    return type_coerce(case((_NEW, column)), Text())


# The newest messages of a thread's context, read on every step: the content columns of the
# rows after ``b_known`` only (the ones before are held decoded, see ``app.messages.recent``).
_IN_AGENT_CONTEXT = (
    select(
        Message.seq,
        Message.id,
        Message.role,
        _if_new(Message.content),
        _if_new(Message.tool_calls),
        _if_new(Message.tool_returns),
    )
    .where(Message.agent_id == bindparam("b_agent"), Message.organization_id == bindparam("b_org"))
    .where(Message.seq >= bindparam("b_start"), Message.seq > SYSTEM_SEQ)
    .where(Message.role != SUMMARY_ROLE)
    .order_by(Message.seq.desc())
    .limit(bindparam("b_limit"))
)
# The agent's main thread, and one conversation (see ``app.messages.thread``).
_IN_MAIN_CONTEXT = Direct(_IN_AGENT_CONTEXT.where(Message.conversation_id.is_(None)))
_IN_CONVERSATION_CONTEXT = Direct(
    _IN_AGENT_CONTEXT.where(Message.conversation_id == bindparam("b_conversation"))
)


@cache
def _allocate(columns: tuple[str, ...]) -> Direct:
    """The sequence allocation, also setting the agent attributes ``columns`` (one statement
    per set of attributes, built once)."""
    mapped = inspect(Agent).column_attrs
    values: dict[str, Any] = {"last_message_seq": _AGENTS.c.last_message_seq + bindparam("b_n")}
    for attr in columns:
        column = mapped[attr].columns[0]
        values[column.key] = bindparam(f"v_{attr}", type_=column.type)
    return Direct(
        update(_AGENTS)
        .where(
            _AGENTS.c.id == bindparam("b_agent"), _AGENTS.c.organization_id == bindparam("b_org")
        )
        .values(values)
        .returning(_AGENTS.c.last_message_seq)
    )


def _window(held: Window, known: int, rows: Sequence[Any]) -> Window | None:
    """The rows read (newest first) as a window: the new ones decoded, the others taken
    from ``held``; None if one of those is missing or is another message now."""
    window: Window = {}
    for seq, message_id, role, content, tool_calls, tool_returns in rows:
        if seq > known:
            row = ChatRow(seq, role, _json(content), _json(tool_calls), _json(tool_returns))
            window[seq] = (message_id, row)
            continue
        kept = held.get(seq)
        if kept is None or kept[0] != message_id:
            return None
        window[seq] = kept
    return window


def _in_thread(stmt: Select[Message], conversation_id: str | None) -> Select[Message]:
    if conversation_id is None:
        return stmt.where(Message.conversation_id.is_(None))
    return stmt.where(Message.conversation_id == conversation_id)


def _json(value: Any) -> Any:
    """A JSON column's value read without its result processor: SQLite hands back the
    stored text, asyncpg has decoded ``jsonb`` already (the values read so are lists)."""
    return loads(value) if isinstance(value, str) else value


class MessageRepository(Repository):
    """Every message query, scoped to one organization. Messages order by per-agent ``seq``."""

    async def allocate_seq(self, agent_id: str, count: int, **agent_values: Any) -> int | None:
        """Reserve ``count`` sequence numbers for an agent and return the first (None if the
        agent is gone). The update locks the agent row, so writers of one agent's history take
        turns; ``agent_values`` are other agent attributes to set in the same statement."""
        params = {"b_agent": agent_id, "b_org": self.organization_id, "b_n": count}
        params.update({f"v_{k}": v for k, v in agent_values.items()})
        rows = await self.direct_rows(_allocate(tuple(sorted(agent_values))), params)
        return int(rows[0][0]) - count + 1 if rows else None

    async def append(self, agent_id: str, messages: Sequence[Message], **agent_values: Any) -> bool:
        """Number ``messages`` after the agent's last one and add them; False (nothing
        added) if the agent is gone. ``agent_values`` as for ``allocate_seq``."""
        first = await self.allocate_seq(agent_id, len(messages), **agent_values)
        if first is None:
            return False
        await self.insert_from(first, messages)
        return True

    async def insert_from(self, first: int, messages: Sequence[Message]) -> None:
        """Number ``messages`` from ``first`` on (numbers reserved already) and add them."""
        for offset, message in enumerate(messages):
            message.seq = first + offset
        await self.insert(messages)

    async def insert(self, messages: Sequence[Message]) -> None:
        """Store numbered messages with the transaction's next statement, in one statement
        (``app.kit.batch``; they stay out of the session)."""
        await self.insert_rows(Message, messages, later=True)

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
        conversation_id: str | None = ALL_THREADS,
    ) -> list[Message]:
        """Cursors are chronological whatever the order; ``order=desc`` picks the newest page.
        The result is always oldest first, as Letta returns it. ``conversation_id`` keeps one
        thread (None: the main one); by default every thread's messages are listed."""
        stmt = self._agent(agent_id)
        if conversation_id != ALL_THREADS:
            stmt = _in_thread(stmt, conversation_id)
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

    async def in_context(
        self, agent_id: str, start_seq: int, limit: int, conversation_id: str | None = None
    ) -> list[ChatRow]:
        """The newest ``limit`` messages of a thread (the agent's main one, or the
        conversation ``conversation_id``) from ``start_seq`` on, oldest first: plain rows with
        just what the model sees (this runs on every step, so no ORM objects)."""
        key = f"{self.organization_id}/{agent_id}"
        params = {
            "b_agent": agent_id,
            "b_org": self.organization_id,
            "b_start": start_seq,
            "b_limit": limit,
        }
        statement = _IN_MAIN_CONTEXT
        if conversation_id is not None:
            key, statement = f"{key}/{conversation_id}", _IN_CONVERSATION_CONTEXT
            params["b_conversation"] = conversation_id
        held = RECENT.get(key)
        known = params["b_known"] = max(held, default=-1)
        window = _window(held, known, await self.direct_rows(statement, params))
        if window is None:  # a held row is not the stored one any more: read them all
            params["b_known"] = -1
            window = _window({}, -1, await self.direct_rows(statement, params)) or {}
        RECENT.keep(key, window)
        return [row for _, row in reversed(window.values())]

    async def in_context_ids(self, agent_ids: Sequence[str]) -> dict[str, list[str]]:
        """Each agent's in-context message ids: its system message, its summary message (if
        compaction wrote one), then every message of its main thread from its
        ``context_start_seq`` on (what the next step will read from; older summaries are
        history only)."""
        ids: dict[str, list[str]] = defaultdict(list)
        if not agent_ids:
            return ids
        summary = Message.id == Agent.summary_message_id
        window = and_(Message.seq >= Agent.context_start_seq, Message.role != SUMMARY_ROLE)
        stmt = (
            select(Message.agent_id, Message.id)
            .join(Agent, Agent.id == Message.agent_id)
            .where(Message.agent_id.in_(agent_ids), Message.organization_id == self.organization_id)
            .where(or_(Message.seq == SYSTEM_SEQ, summary, window))
            .where(Message.conversation_id.is_(None))
            .order_by(Message.agent_id, case((Message.seq == SYSTEM_SEQ, 0), (summary, 1), else_=2))
            .order_by(Message.seq)
        )
        for agent_id, message_id in await self.session.execute(stmt):
            ids[agent_id].append(message_id)
        return ids

    async def summary_text(self, message_id: str) -> str | None:
        """The text of a summary message, read once per process (a stored message never
        changes); None if it is gone."""
        text = SUMMARIES.get(message_id)
        if text is None:
            stmt = select(Message.content).where(
                Message.id == message_id,
                Message.organization_id == self.organization_id,
                Message.role == SUMMARY_ROLE,
            )
            content = await self.session.scalar(stmt)
            if content is None:
                return None
            text = SUMMARIES.keep(message_id, text_of(content))
        return text

    async def in_context_messages(self, agent: Agent, limit: int) -> list[Message]:
        """The agent's window as stored messages: its system message, its summary message,
        then its newest ``limit`` messages from ``context_start_seq`` on, oldest first."""
        summary = Message.id == agent.summary_message_id
        head = self._agent(agent.id).where(or_(Message.seq == SYSTEM_SEQ, summary))
        head = head.order_by(case((Message.seq == SYSTEM_SEQ, 0), else_=1))
        rows = (
            self._agent(agent.id)
            .where(Message.seq >= agent.context_start_seq, Message.seq > SYSTEM_SEQ)
            .where(Message.role != SUMMARY_ROLE, Message.conversation_id.is_(None))
            .order_by(Message.seq.desc())
            .limit(limit)
        )
        newest = list((await self.session.scalars(rows)).all())
        return [*(await self.session.scalars(head)).all(), *reversed(newest)]

    async def count(self, agent_id: str) -> int:
        stmt = (
            select(func.count())
            .select_from(Message)
            .where(Message.agent_id == agent_id, Message.organization_id == self.organization_id)
        )
        return int(await self.session.scalar(stmt) or 0)

    async def thread(self, agent_id: str, conversation_id: str | None = None) -> list[Message]:
        """Every message of one thread of the agent, oldest first, what an agent file
        carries: its main thread, or a conversation's messages after the agent's system
        message."""
        if conversation_id is None:
            stmt = self._agent(agent_id).where(Message.conversation_id.is_(None))
        else:
            stmt = self._agent(agent_id).where(
                or_(
                    and_(Message.seq == SYSTEM_SEQ, Message.conversation_id.is_(None)),
                    Message.conversation_id == conversation_id,
                )
            )
        return list((await self.session.scalars(stmt.order_by(Message.seq))).all())

    async def system_message(self, agent_id: str) -> Message | None:
        return await self.session.scalar(self._agent(agent_id).where(Message.seq == SYSTEM_SEQ))

    async def delete_history(self, agent_id: str) -> None:
        """Delete every message of the agent's main thread but its system message (its
        conversations keep theirs)."""
        await self.session.execute(
            delete(Message).where(
                Message.agent_id == agent_id,
                Message.organization_id == self.organization_id,
                Message.seq > SYSTEM_SEQ,
                Message.conversation_id.is_(None),
            )
        )

    async def delete_of_run(self, agent_id: str, run_id: str) -> None:
        """Delete what a run stored in the agent's history (an abandoned attempt's)."""
        await self.session.execute(
            delete(Message)
            .where(Message.agent_id == agent_id, Message.organization_id == self.organization_id)
            .where(Message.run_id == run_id)
            .execution_options(synchronize_session=False)
        )

    async def transcript(self, agent_id: str, after: int, through: int) -> Sequence[Message]:
        """The agent's messages numbered after ``after`` up to ``through``, in order, without
        a fork's copies (their originals were read before): what a sleeptime agent reads."""
        stmt = (
            self._agent(agent_id)
            .where(Message.seq > after, Message.seq <= through)
            .where(Message.forked_from_id.is_(None))
            .order_by(Message.seq)
        )
        return (await self.session.scalars(stmt)).all()

    async def latest(
        self, agent_id: str, *, role: str, conversation_id: str | None = None
    ) -> Message | None:
        """The newest message of ``role`` in one thread (the main one by default)."""
        stmt = _in_thread(self._agent(agent_id), conversation_id).where(Message.role == role)
        return await self.session.scalar(stmt.order_by(Message.seq.desc()).limit(1))

    async def by_otid(
        self, agent_id: str, otid: str, conversation_id: str | None
    ) -> Message | None:
        """The newest message of the thread that a client sent with ``otid``."""
        stmt = _in_thread(self._agent(agent_id), conversation_id).where(Message.otid == otid)
        return await self.session.scalar(stmt.order_by(Message.seq.desc()).limit(1))

    async def by_ids(self, ids: Sequence[str]) -> list[Message]:
        """The organization's messages with these ids, in no particular order."""
        if not ids:
            return []
        stmt = select(Message).where(
            Message.id.in_(ids), Message.organization_id == self.organization_id
        )
        return list((await self.session.scalars(stmt)).all())

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
