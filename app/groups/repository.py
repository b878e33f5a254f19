from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.groups.models import Group, GroupAgent
from app.kit.db import utcnow
from app.kit.pagination import PageParams, paginate
from app.kit.repository import Repository
from app.messages.models import Message
from app.runs.lifecycle import RunKind
from app.runs.models import Run


class GroupRepository(Repository):
    """Every group query, scoped to one organization."""

    def _scoped(self) -> Select[Group]:
        return select(Group).where(Group.organization_id == self.organization_id)

    async def get(self, group_id: str, *, for_update: bool = False) -> Group | None:
        stmt = self._scoped().where(Group.id == group_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def list_page(
        self, params: PageParams, *, manager_type: str | None, member_id: str | None = None
    ) -> Sequence[Group]:
        stmt = self._scoped()
        if member_id is not None:
            stmt = stmt.where(
                Group.id.in_(select(GroupAgent.group_id).where(GroupAgent.agent_id == member_id))
            )
        if manager_type is not None:
            stmt = stmt.where(Group.manager_type == manager_type)
        return await paginate(
            self.session, stmt, entity=Group, organization_id=self.organization_id, params=params
        )

    async def count(self) -> int:
        stmt = select(func.count()).select_from(Group)
        return int(
            await self.session.scalar(stmt.where(Group.organization_id == self.organization_id))
            or 0
        )

    async def managed_by(self, agent_ids: Sequence[str]) -> Sequence[Group]:
        if not agent_ids:
            return []
        stmt = self._scoped().where(Group.manager_agent_id.in_(agent_ids))
        return (await self.session.scalars(stmt)).all()

    async def containing(self, agent_id: str) -> Sequence[Group]:
        stmt = self._scoped().join(GroupAgent, GroupAgent.group_id == Group.id)
        return (await self.session.scalars(stmt.where(GroupAgent.agent_id == agent_id))).all()

    async def member_ids(self, group_ids: Sequence[str]) -> dict[str, list[str]]:
        members: dict[str, list[str]] = defaultdict(list)
        if not group_ids:
            return members
        rows = await self.session.execute(
            select(GroupAgent.group_id, GroupAgent.agent_id)
            .where(GroupAgent.group_id.in_(group_ids))
            .order_by(GroupAgent.group_id, GroupAgent.position)
        )
        for group_id, agent_id in rows:
            members[group_id].append(agent_id)
        return members

    async def last_sleeptime_runs(self, group_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
        """(run id, status) of each group's newest sleeptime run: one row per group."""
        if not group_ids:
            return {}
        rank = (
            func.row_number()
            .over(partition_by=Run.group_id, order_by=(Run.created_at.desc(), Run.id.desc()))
            .label("rank")
        )
        ranked = (
            select(Run.group_id, Run.id, Run.status, rank)
            .where(Run.group_id.in_(group_ids), Run.kind == RunKind.sleeptime)
            .subquery()
        )
        rows = await self.session.execute(
            select(ranked.c.group_id, ranked.c.id, ranked.c.status).where(ranked.c.rank == 1)
        )
        return {group_id: (run_id, status) for group_id, run_id, status in rows}

    def add(self, group: Group) -> None:
        self.session.add(group)

    async def set_members(self, group: Group, agent_ids: Sequence[str]) -> None:
        await self.session.execute(delete(GroupAgent).where(GroupAgent.group_id == group.id))
        self.session.add_all(
            GroupAgent(
                group_id=group.id,
                agent_id=agent_id,
                organization_id=self.organization_id,
                position=position,
            )
            for position, agent_id in enumerate(agent_ids)
        )

    async def set_processed_through(self, group_id: str, seq: int) -> None:
        """Move every member's watermark of the group to ``seq``."""
        await self.session.execute(
            update(GroupAgent)
            .where(
                GroupAgent.group_id == group_id,
                GroupAgent.organization_id == self.organization_id,
            )
            .values(processed_through_seq=seq)
        )

    async def sleeptime_group_of(self, primary_id: str) -> Group | None:
        """The sleeptime group the agent manages, if its sleeptime is enabled."""
        return await self.session.scalar(
            self._scoped()
            .join(Agent, Agent.id == Group.manager_agent_id)
            .where(Group.manager_agent_id == primary_id, Group.manager_type == "sleeptime")
            .where(Agent.enable_sleeptime.is_(True))
        )

    async def count_turn(self, group_id: str) -> int | None:
        """Count one more turn of the group's primary, in one atomic statement: the counter
        (from -1) becomes ``(counter + 1) mod sleeptime_agent_frequency``; returns it."""
        counter: int | None = await self.session.scalar(
            update(Group)
            .where(Group.id == group_id, Group.organization_id == self.organization_id)
            .values(
                turns_counter=(func.coalesce(Group.turns_counter, -1) + 1)
                % Group.sleeptime_agent_frequency
            )
            .returning(Group.turns_counter)
            .execution_options(synchronize_session=False)
        )
        return counter

    async def set_last_processed_message(self, group_id: str, message_id: str) -> None:
        await self.session.execute(
            update(Group)
            .where(Group.id == group_id, Group.organization_id == self.organization_id)
            .values(last_processed_message_id=message_id, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )

    async def watermark(self, group_id: str, agent_id: str) -> int | None:
        """How far the member has read its primary's messages (None: not a member)."""
        seq: int | None = await self.session.scalar(
            select(GroupAgent.processed_through_seq).where(
                GroupAgent.group_id == group_id,
                GroupAgent.agent_id == agent_id,
                GroupAgent.organization_id == self.organization_id,
            )
        )
        return seq

    async def advance_watermark(self, group_id: str, agent_id: str, start: int, to: int) -> bool:
        """Move the member's watermark from exactly ``start`` to ``to``; False if it was not
        at ``start`` (any more)."""
        result = await self.session.execute(
            update(GroupAgent)
            .where(
                GroupAgent.group_id == group_id,
                GroupAgent.agent_id == agent_id,
                GroupAgent.organization_id == self.organization_id,
            )
            .where(GroupAgent.processed_through_seq == start)
            .values(processed_through_seq=to)
            .execution_options(synchronize_session=False)
        )
        return bool(getattr(result, "rowcount", 0))

    async def delete(self, group: Group) -> None:
        await self.session.delete(group)


@dataclass(frozen=True, slots=True)
class Lag:
    group_id: str
    primary_id: str
    agent_id: str  # the sleeptime agent
    processed_through_seq: int  # its watermark
    turns: int  # the primary's turns after it


async def sleeptime_lag(
    session: AsyncSession,
    *,
    organization_id: str | None = None,
    group_id: str | None = None,
    limit: int | None = None,
) -> Sequence[Lag]:
    """How far each sleeptime agent is behind its primary: the primary's turns (the runs
    whose messages it stored) after the member's watermark, in the messages no completed
    sleeptime run of it has read yet (an agent's boot messages belong to no turn). A group
    with frequency ``f`` is normally up to ``f - 1`` turns behind between its runs; a lag
    that keeps growing means its runs fail or nothing executes them.

    Every sleeptime agent of the groups whose primary has sleeptime enabled, worst first: of
    one organization, or one group, or (unscoped, for metrics) all. One statement for any
    number of groups: each member's count is a range of the primary's messages by
    ``(agent_id, seq)``, the unique index every message read uses."""
    turns = (
        select(func.count(Message.run_id.distinct()))
        .where(Message.agent_id == Group.manager_agent_id)
        .where(Message.seq > GroupAgent.processed_through_seq)
        .where(Message.run_id.is_not(None), Message.forked_from_id.is_(None))
        .correlate(Group, GroupAgent)
        .scalar_subquery()
    )
    stmt = (
        select(
            GroupAgent.group_id,
            Group.manager_agent_id,
            GroupAgent.agent_id,
            GroupAgent.processed_through_seq,
            turns.label("turns"),
        )
        .join(Group, Group.id == GroupAgent.group_id)
        .join(Agent, Agent.id == Group.manager_agent_id)
        .where(Group.manager_type == "sleeptime", Agent.enable_sleeptime.is_(True))
        .order_by(turns.desc(), GroupAgent.group_id, GroupAgent.agent_id)
    )
    if organization_id is not None:
        stmt = stmt.where(Group.organization_id == organization_id)
    if group_id is not None:
        stmt = stmt.where(Group.id == group_id)
    if limit is not None:
        stmt = stmt.limit(limit)
    rows = (await session.execute(stmt)).all()
    return [Lag(r[0], r[1] or "", r[2], int(r[3]), int(r[4])) for r in rows]
