"""Sleeptime groups: a primary (the manager) and the sleeptime agents that follow it.

The primary's ``enable_sleeptime`` is the switch and its managed group is the configuration:
creating a group turns the switch on, deleting it turns it off.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.agents.repository import AgentRepository
from app.auth.deps import Actor
from app.groups.models import Group
from app.groups.repository import GroupRepository
from app.groups.schemas import GroupCreate, GroupResponse, GroupUpdate
from app.kit.db import utcnow
from app.kit.errors import BadRequest, Conflict, NotFound
from app.kit.ids import Prefix, new_id
from app.kit.pagination import PageParams

SLEEPTIME = "sleeptime"
ARCHIVAL_INSERT = "archival_memory_insert"


@dataclass(frozen=True, slots=True)
class GroupView:
    group: Group
    agent_ids: list[str]
    last_run: tuple[str, str] | None = None

    def response(self) -> GroupResponse:
        g = self.group
        return GroupResponse(
            id=g.id,
            manager_type=g.manager_type,
            agent_ids=self.agent_ids,
            description=g.description,
            manager_agent_id=g.manager_agent_id,
            sleeptime_agent_frequency=g.sleeptime_agent_frequency,
            turns_counter=g.turns_counter,
            last_processed_message_id=g.last_processed_message_id,
            sleeptime_debounce_seconds=g.sleeptime_debounce_seconds,
            turns_since_last_processed=max(g.turns_counter or 0, 0),
            last_sleeptime_run_id=self.last_run[0] if self.last_run else None,
            last_sleeptime_run_status=self.last_run[1] if self.last_run else None,
            sleeptime_archival_insert=g.sleeptime_archival_insert,
            created_at=g.created_at,
            updated_at=g.updated_at,
        )


async def views(repo: GroupRepository, groups: Sequence[Group]) -> list[GroupView]:
    ids = [g.id for g in groups]
    members = await repo.member_ids(ids)
    last = await repo.last_sleeptime_runs(ids)
    return [GroupView(g, members.get(g.id, []), last.get(g.id)) for g in groups]


async def _check_members(
    agents: AgentRepository, agent_ids: Sequence[str], manager_id: str | None
) -> None:
    if len(set(agent_ids)) != len(agent_ids):
        raise BadRequest("agent_ids: an agent is listed more than once")
    if manager_id is not None and manager_id in agent_ids:
        raise BadRequest("agent_ids: the manager agent cannot also be a member of its group")
    found = {a.id: a for a in await agents.get_many(agent_ids)}
    missing = [i for i in agent_ids if i not in found]
    if missing:
        raise NotFound(f"agent_ids: agent(s) not found: {', '.join(missing)}")
    wrong = [i for i in agent_ids if found[i].agent_type != "sleeptime_agent"]
    if wrong:
        raise BadRequest(
            f"agent_ids: members of a sleeptime group must be sleeptime_agent agents; "
            f"not: {', '.join(wrong)}"
        )


async def _manager(agents: AgentRepository, groups: GroupRepository, agent_id: str) -> Agent:
    manager = await agents.get(agent_id, for_update=True)
    if manager is None:
        raise NotFound(f"manager_config.manager_agent_id: agent {agent_id} not found")
    if manager.agent_type == "sleeptime_agent":
        raise BadRequest("manager_config.manager_agent_id: a sleeptime_agent cannot be a manager")
    existing = await groups.managed_by([agent_id])
    if existing:
        raise Conflict(f"Agent {agent_id} already manages group {existing[0].id}")
    return manager


async def create_group(
    session: AsyncSession,
    actor: Actor,
    *,
    manager: Agent,
    member_ids: Sequence[str],
    frequency: int | None,
    description: str = "",
    debounce_seconds: float | None = None,
    archival_insert: bool = False,
) -> GroupView:
    """Insert a sleeptime group (inputs already checked) and switch its manager on."""
    repo = GroupRepository(session, actor.organization_id)
    now = utcnow()
    group = Group(
        id=new_id(Prefix.group),
        organization_id=actor.organization_id,
        manager_type=SLEEPTIME,
        description=description,
        manager_agent_id=manager.id,
        sleeptime_agent_frequency=frequency,
        turns_counter=-1 if frequency is not None else None,
        sleeptime_debounce_seconds=debounce_seconds,
        sleeptime_archival_insert=archival_insert,
        created_at=now,
        updated_at=now,
    )
    repo.add(group)
    await session.flush()
    await repo.set_members(group, member_ids)
    manager.enable_sleeptime = True
    if archival_insert:
        await _offer_archival_insert(session, actor, member_ids, offered=True)
    await session.flush()
    return GroupView(group, list(member_ids))


async def _offer_archival_insert(
    session: AsyncSession, actor: Actor, member_ids: Sequence[str], *, offered: bool
) -> None:
    """Give the members ``archival_memory_insert`` (or take it away): the group's
    ``sleeptime_archival_insert`` setting. Their runs file into the manager's archive."""
    for member in await AgentRepository(session, actor.organization_id).get_many(member_ids):
        names = [n for n in member.tool_names if n != ARCHIVAL_INSERT]
        member.tool_names = [*names, ARCHIVAL_INSERT] if offered else names


async def create(session: AsyncSession, actor: Actor, data: GroupCreate) -> GroupView:
    agents = AgentRepository(session, actor.organization_id)
    groups = GroupRepository(session, actor.organization_id)
    config = data.manager_config
    manager = await _manager(agents, groups, config.manager_agent_id)
    await _check_members(agents, data.agent_ids, manager.id)
    return await create_group(
        session,
        actor,
        manager=manager,
        member_ids=data.agent_ids,
        frequency=config.sleeptime_agent_frequency,
        description=data.description,
        debounce_seconds=config.sleeptime_debounce_seconds,
        archival_insert=config.sleeptime_archival_insert,
    )


async def get(session: AsyncSession, actor: Actor, group_id: str) -> GroupView:
    repo = GroupRepository(session, actor.organization_id)
    group = await repo.get(group_id)
    if group is None:
        raise NotFound(f"Group {group_id} not found")
    return (await views(repo, [group]))[0]


async def list_groups(
    session: AsyncSession,
    actor: Actor,
    params: PageParams,
    *,
    manager_type: str | None,
    member_id: str | None = None,
) -> list[GroupView]:
    """A page of groups; with ``member_id``, of the groups that agent is a member of."""
    repo = GroupRepository(session, actor.organization_id)
    groups = await repo.list_page(params, manager_type=manager_type, member_id=member_id)
    return await views(repo, groups)


async def count(session: AsyncSession, actor: Actor) -> int:
    return await GroupRepository(session, actor.organization_id).count()


async def _change_manager(
    agents: AgentRepository, groups: GroupRepository, group: Group, manager_id: str
) -> None:
    new_manager = await _manager(agents, groups, manager_id)
    if group.manager_agent_id is not None:
        await agents.set_enable_sleeptime(group.manager_agent_id, False)
    group.manager_agent_id = new_manager.id
    new_manager.enable_sleeptime = True


async def _update_archival_insert(
    session: AsyncSession, actor: Actor, group: Group, groups: GroupRepository, data: GroupUpdate
) -> None:
    """Apply a changed ``sleeptime_archival_insert``; a member added while it is on gets the
    tool too."""
    config = data.manager_config
    wanted = config.sleeptime_archival_insert if config is not None else None
    if wanted is None and not (group.sleeptime_archival_insert and data.agent_ids is not None):
        return
    members = (await groups.member_ids([group.id])).get(group.id, [])
    if data.agent_ids is not None:
        members = list(data.agent_ids)
    offered = group.sleeptime_archival_insert if wanted is None else wanted
    group.sleeptime_archival_insert = offered
    await _offer_archival_insert(session, actor, members, offered=offered)


async def update(
    session: AsyncSession, actor: Actor, group_id: str, data: GroupUpdate
) -> GroupView:
    agents = AgentRepository(session, actor.organization_id)
    groups = GroupRepository(session, actor.organization_id)
    group = await groups.get(group_id, for_update=True)
    if group is None:
        raise NotFound(f"Group {group_id} not found")
    config = data.manager_config
    if config is not None and config.manager_agent_id not in (None, group.manager_agent_id):
        await _change_manager(agents, groups, group, config.manager_agent_id)
    if data.agent_ids is not None:
        await _check_members(agents, data.agent_ids, group.manager_agent_id)
        await groups.set_members(group, data.agent_ids)
    await _update_archival_insert(session, actor, group, groups, data)
    if config is not None and "sleeptime_agent_frequency" in config.model_fields_set:
        group.sleeptime_agent_frequency = config.sleeptime_agent_frequency
        group.turns_counter = -1 if config.sleeptime_agent_frequency is not None else None
    if config is not None and "sleeptime_debounce_seconds" in config.model_fields_set:
        group.sleeptime_debounce_seconds = config.sleeptime_debounce_seconds
    if data.description is not None:
        group.description = data.description
    group.updated_at = utcnow()
    await session.flush()
    return (await views(groups, [group]))[0]


async def delete(session: AsyncSession, actor: Actor, group_id: str) -> None:
    groups = GroupRepository(session, actor.organization_id)
    group = await groups.get(group_id, for_update=True)
    if group is None:
        raise NotFound(f"Group {group_id} not found")
    await delete_group(session, actor, group)


async def delete_group(session: AsyncSession, actor: Actor, group: Group) -> None:
    if group.manager_agent_id is not None:
        agents = AgentRepository(session, actor.organization_id)
        await agents.set_enable_sleeptime(group.manager_agent_id, False)
    await GroupRepository(session, actor.organization_id).delete(group)
    await session.flush()
