from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import Select, bindparam, delete, exists, func, inspect, select, update

from app.agents.models import Agent, AgentTag
from app.blocks.models import AgentBlock
from app.kit.db import utcnow
from app.kit.direct import Direct
from app.kit.pagination import PageParams, paginate
from app.kit.repository import Repository, detached, table_of
from app.runs.models import Run
from app.runs.states import ACTIVE

_AGENTS = table_of(Agent)
# Read on every turn: built once, so only their parameters change.
_GET = select(Agent).where(
    Agent.id == bindparam("b_agent"), Agent.organization_id == bindparam("b_org")
)
_GET_FOR_UPDATE = _GET.with_for_update()
# (attribute, column key) of every agent column, in the order ``_TAKE_SEQ`` returns them.
_COLUMNS = [(prop.key, prop.columns[0].key) for prop in inspect(Agent).column_attrs]
# A turn's acceptance: the agent row locked, its next message numbers reserved and the row
# read back, all in one statement.
_TAKE_SEQ = Direct(
    update(_AGENTS)
    .where(_AGENTS.c.id == bindparam("b_agent"), _AGENTS.c.organization_id == bindparam("b_org"))
    .values(last_message_seq=_AGENTS.c.last_message_seq + bindparam("b_n"))
    .returning(*(_AGENTS.c[key] for _, key in _COLUMNS))
)
# A step's read of its agent (a later step, or after compaction): plain values, no ORM load.
_READ = Direct(
    select(*(_AGENTS.c[key] for _, key in _COLUMNS)).where(
        _AGENTS.c.id == bindparam("b_agent"), _AGENTS.c.organization_id == bindparam("b_org")
    )
)
_RECORD_RUN = Direct(
    update(_AGENTS)
    .where(_AGENTS.c.id == bindparam("b_agent"), _AGENTS.c.organization_id == bindparam("b_org"))
    .values(
        last_stop_reason=bindparam("v_stop_reason", type_=_AGENTS.c.last_stop_reason.type),
        last_run_completion=bindparam("v_at", type_=_AGENTS.c.last_run_completion.type),
        last_run_duration_ms=bindparam("v_ms", type_=_AGENTS.c.last_run_duration_ms.type),
        updated_at=bindparam("v_now", type_=_AGENTS.c.updated_at.type),
    )
)


@cache
def _main_thread_state(turn_kinds: tuple[str, ...]) -> Select[tuple[Any, bool]]:
    """A streamed turn's admission check on the main thread, in one statement (built once):
    the approval the thread waits on, and whether one of its turns is running."""
    busy = exists().where(
        Run.organization_id == Agent.organization_id,
        Run.agent_id == Agent.id,
        Run.conversation_id.is_(None),
        Run.status.in_(ACTIVE),
        Run.kind.in_(turn_kinds),
    )
    return select(Agent.pending_approval, busy.label("busy")).where(
        Agent.id == bindparam("b_agent"), Agent.organization_id == bindparam("b_org")
    )


class AgentRepository(Repository):
    """Every agent query, scoped to one organization."""

    def _scoped(self) -> Select[Agent]:
        return select(Agent).where(Agent.organization_id == self.organization_id)

    async def get(self, agent_id: str, *, for_update: bool = False) -> Agent | None:
        stmt = _GET_FOR_UPDATE if for_update else _GET
        params = {"b_agent": agent_id, "b_org": self.organization_id}
        return await self.session.scalar(stmt, params)

    async def main_thread_state(
        self, agent_id: str, turn_kinds: Sequence[str]
    ) -> tuple[dict[str, Any] | None, bool] | None:
        """The approval the agent's main thread waits on and whether a turn of ``turn_kinds``
        runs on it, read together; None when there is no such agent."""
        params = {"b_agent": agent_id, "b_org": self.organization_id}
        stmt = _main_thread_state(tuple(turn_kinds))
        row = (await self.session.execute(stmt, params)).first()
        return None if row is None else (row.pending_approval, bool(row.busy))

    async def read(self, agent_id: str) -> Agent | None:
        """The agent as an object outside the session, for reading only (None if gone)."""
        params = {"b_agent": agent_id, "b_org": self.organization_id}
        rows = await self.direct_rows(_READ, params)
        return self._detached(rows[0]) if rows else None

    def _detached(self, row: Sequence[Any]) -> Agent:
        return detached(Agent, {attr: v for (attr, _), v in zip(_COLUMNS, row, strict=True)})

    async def take_seq(self, agent_id: str, count: int) -> tuple[Agent, int] | None:
        """Lock the agent by reserving its next ``count`` message numbers; the agent as it
        now is (an object outside the session) and the first number, or None if it is gone.
        One statement where a locking read and the reservation took two."""
        params = {"b_agent": agent_id, "b_org": self.organization_id, "b_n": count}
        rows = await self.direct_rows(_TAKE_SEQ, params)
        if not rows:
            return None
        agent = self._detached(rows[0])
        return agent, agent.last_message_seq - count + 1

    async def get_many(self, agent_ids: Sequence[str]) -> Sequence[Agent]:
        if not agent_ids:
            return []
        return (await self.session.scalars(self._scoped().where(Agent.id.in_(agent_ids)))).all()

    def _filtered(
        self,
        *,
        name: str | None = None,
        query_text: str | None = None,
        tags: Sequence[str] = (),
        match_all_tags: bool = False,
        block_id: str | None = None,
    ) -> Select[Agent]:
        stmt = self._scoped()
        if block_id is not None:
            stmt = stmt.where(
                Agent.id.in_(select(AgentBlock.agent_id).where(AgentBlock.block_id == block_id))
            )
        if name is not None:
            stmt = stmt.where(Agent.name == name)
        if query_text:
            stmt = stmt.where(func.lower(Agent.name).contains(query_text.lower(), autoescape=True))
        if tags:
            tagged = select(AgentTag.agent_id).where(
                AgentTag.organization_id == self.organization_id, AgentTag.tag.in_(set(tags))
            )
            if match_all_tags:
                tagged = tagged.group_by(AgentTag.agent_id).having(
                    func.count(AgentTag.tag) == len(set(tags))
                )
            stmt = stmt.where(Agent.id.in_(tagged))
        return stmt

    async def list_page(self, params: PageParams, **filters: Any) -> Sequence[Agent]:
        stmt = self._filtered(**filters)
        return await paginate(
            self.session, stmt, entity=Agent, organization_id=self.organization_id, params=params
        )

    async def count(self, **filters: Any) -> int:
        stmt = self._filtered(**filters).with_only_columns(func.count()).order_by(None)
        return int(await self.session.scalar(stmt) or 0)

    async def tags_of(self, agent_ids: Sequence[str]) -> dict[str, list[str]]:
        tags: dict[str, list[str]] = defaultdict(list)
        if not agent_ids:
            return tags
        rows = await self.session.execute(
            select(AgentTag.agent_id, AgentTag.tag)
            .where(AgentTag.agent_id.in_(agent_ids))
            .order_by(AgentTag.agent_id, AgentTag.tag)
        )
        for agent_id, tag in rows:
            tags[agent_id].append(tag)
        return tags

    async def set_tags(self, agent_id: str, tags: Sequence[str]) -> None:
        await self.session.execute(delete(AgentTag).where(AgentTag.agent_id == agent_id))
        self.session.add_all(
            AgentTag(agent_id=agent_id, tag=tag, organization_id=self.organization_id)
            for tag in dict.fromkeys(tags)
        )

    async def set_enable_sleeptime(self, agent_id: str, enabled: bool) -> None:
        await self.session.execute(
            update(Agent)
            .where(Agent.id == agent_id, Agent.organization_id == self.organization_id)
            .values(enable_sleeptime=enabled)
        )

    async def record_run(
        self, agent_id: str, *, stop_reason: str, at: datetime, duration_ms: int
    ) -> None:
        params = {
            "b_agent": agent_id,
            "b_org": self.organization_id,
            "v_stop_reason": stop_reason,
            "v_at": at,
            "v_ms": duration_ms,
            "v_now": utcnow(),
        }
        await self.direct_count(_RECORD_RUN, params)

    def add(self, agent: Agent) -> None:
        self.session.add(agent)

    async def delete_many(self, agent_ids: Sequence[str]) -> None:
        if agent_ids:
            await self.session.execute(
                delete(Agent).where(
                    Agent.id.in_(agent_ids), Agent.organization_id == self.organization_id
                )
            )
