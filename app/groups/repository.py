from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.groups.models import Group, GroupAgent
from app.kit.pagination import PageParams, paginate
from app.runs.lifecycle import RunKind
from app.runs.models import Run


class GroupRepository:
    """Every group query, scoped to one organization."""

    def __init__(self, session: AsyncSession, organization_id: str) -> None:
        self.session = session
        self.organization_id = organization_id

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

    async def delete(self, group: Group) -> None:
        await self.session.delete(group)
