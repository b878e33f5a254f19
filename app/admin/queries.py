"""The operator's reads: agents, runs and block histories across every organization.

The API's repositories scope every query by the caller's organization; an operator at the
database (``sleeptime agents list``, ``runs``, ``blocks history``) sees all of them, with an
organization filter of their own. Read-only: nothing here writes.
"""

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent, AgentTag
from app.auth.models import Organization
from app.blocks.models import Block, BlockHistory
from app.runs.models import Run, Step

_S = TypeVar("_S", bound=Select[Any])


@dataclass(frozen=True, slots=True)
class AgentRow:
    agent: Agent
    organization: str
    tags: list[str]


@dataclass(frozen=True, slots=True)
class RunRow:
    run: Run
    steps: int
    tokens: int


class AdminQueries:
    def __init__(self, session: AsyncSession, organization_id: str | None = None) -> None:
        self.session = session
        self.organization_id = organization_id

    def _in_org(self, stmt: _S, model: type[Agent | Run | Block]) -> _S:
        if self.organization_id is None:
            return stmt
        return stmt.where(model.organization_id == self.organization_id)

    async def agents(self, *, search: str | None, tag: str | None, limit: int) -> list[AgentRow]:
        stmt = self._in_org(select(Agent), Agent)
        if search:
            stmt = stmt.where(func.lower(Agent.name).contains(search.lower(), autoescape=True))
        if tag:
            tagged = select(AgentTag.agent_id).where(AgentTag.tag == tag)
            stmt = stmt.where(Agent.id.in_(tagged))
        stmt = stmt.order_by(Agent.created_at.desc(), Agent.id.desc()).limit(limit)
        agents = (await self.session.scalars(stmt)).all()
        ids = [a.id for a in agents]
        tags: dict[str, list[str]] = {}
        rows = await self.session.execute(
            select(AgentTag.agent_id, AgentTag.tag)
            .where(AgentTag.agent_id.in_(ids))
            .order_by(AgentTag.tag)
        )
        for agent_id, name in rows:
            tags.setdefault(agent_id, []).append(name)
        names = await self._organization_names({a.organization_id for a in agents})
        return [AgentRow(a, names.get(a.organization_id, "?"), tags.get(a.id, [])) for a in agents]

    async def _organization_names(self, ids: Collection[str]) -> dict[str, str]:
        rows = await self.session.execute(
            select(Organization.id, Organization.name).where(Organization.id.in_(list(ids)))
        )
        return {org_id: name for org_id, name in rows}

    async def runs(
        self,
        *,
        statuses: Sequence[str],
        kinds: Sequence[str],
        agent_id: str | None,
        limit: int,
    ) -> list[RunRow]:
        stmt = self._in_org(select(Run), Run)
        if statuses:
            stmt = stmt.where(Run.status.in_(statuses))
        if kinds:
            stmt = stmt.where(Run.kind.in_(kinds))
        if agent_id:
            stmt = stmt.where(Run.agent_id == agent_id)
        stmt = stmt.order_by(Run.created_at.desc(), Run.id.desc()).limit(limit)
        runs = (await self.session.scalars(stmt)).all()
        totals = await self._step_totals([r.id for r in runs])
        return [RunRow(r, *totals.get(r.id, (0, 0))) for r in runs]

    async def _step_totals(self, run_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        rows = await self.session.execute(
            select(Step.run_id, func.count(), func.coalesce(func.sum(Step.total_tokens), 0))
            .where(Step.run_id.in_(run_ids))
            .group_by(Step.run_id)
        )
        return {run_id: (int(count), int(tokens)) for run_id, count, tokens in rows}

    async def run(self, run_id: str) -> Run | None:
        stmt = self._in_org(select(Run).where(Run.id == run_id), Run)
        return await self.session.scalar(stmt)

    async def steps(self, run_id: str) -> Sequence[Step]:
        stmt = select(Step).where(Step.run_id == run_id).order_by(Step.created_at, Step.id)
        return (await self.session.scalars(stmt)).all()

    async def block(self, block_id: str) -> Block | None:
        stmt = self._in_org(select(Block).where(Block.id == block_id), Block)
        return await self.session.scalar(stmt)

    async def history(self, block_id: str, *, limit: int) -> Sequence[BlockHistory]:
        """The newest ``limit`` versions, oldest first."""
        stmt = (
            select(BlockHistory)
            .where(BlockHistory.block_id == block_id)
            .order_by(BlockHistory.version.desc())
            .limit(limit)
        )
        return list(reversed((await self.session.scalars(stmt)).all()))
