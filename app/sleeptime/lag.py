"""How far each sleeptime agent is behind its primary: the primary's turns (the runs whose
messages it stored) after the member's watermark, in the messages no completed sleeptime run
of it has read yet (an agent's boot messages belong to no turn). A group with frequency ``f``
is normally up to ``f - 1`` turns behind between its runs; a lag that keeps growing means its
runs fail or nothing executes them.

One statement for any number of groups: each member's count is a range of the primary's
messages by ``(agent_id, seq)``, the unique index every message read uses.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.groups.models import Group, GroupAgent
from app.messages.models import Message


@dataclass(frozen=True, slots=True)
class Lag:
    group_id: str
    primary_id: str
    agent_id: str  # the sleeptime agent
    processed_through_seq: int  # its watermark
    turns: int  # the primary's turns after it


async def lag(
    session: AsyncSession,
    *,
    organization_id: str | None = None,
    group_id: str | None = None,
    limit: int | None = None,
) -> Sequence[Lag]:
    """The lag of every sleeptime agent of the groups whose primary has sleeptime enabled,
    worst first: of one organization, or one group, or (unscoped, for metrics) all."""
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
