"""Core memory of an agent: its attached blocks, addressed by label."""

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from app.agents.models import Agent
from app.auth.deps import Actor
from app.blocks import service as blocks_service
from app.blocks.models import Block
from app.blocks.repository import BlockRepository
from app.blocks.schemas import BlockUpdate
from app.groups.repository import GroupRepository
from app.kit.errors import Conflict, NotFound
from app.kit.pagination import PageParams


async def list_blocks(
    session: AsyncSession, actor: Actor, agent: Agent, params: PageParams
) -> Sequence[Block]:
    return await BlockRepository(session, actor.organization_id).list_for_agent(agent.id, params)


async def get_block(
    session: AsyncSession, actor: Actor, agent: Agent, label: str, *, for_update: bool = False
) -> Block:
    repo = BlockRepository(session, actor.organization_id)
    block = await repo.get_by_label(agent.id, label, for_update=for_update)
    if block is None:
        raise NotFound(f"Block with label {label!r} not found for agent {agent.id}")
    return block


async def update_block(
    session: AsyncSession, actor: Actor, agent: Agent, label: str, data: BlockUpdate
) -> Block:
    block = await get_block(session, actor, agent, label, for_update=True)
    repo = BlockRepository(session, actor.organization_id)
    return await blocks_service.write(repo, block, data, blocks_service.API_CHANGE)


async def _followers(session: AsyncSession, actor: Actor, agent: Agent) -> list[str]:
    """The sleeptime agents of a primary: they share its blocks."""
    groups = GroupRepository(session, actor.organization_id)
    managed = await groups.managed_by([agent.id])
    members = await groups.member_ids([g.id for g in managed])
    return [agent_id for g in managed for agent_id in members.get(g.id, [])]


async def attach(session: AsyncSession, actor: Actor, agent: Agent, block_id: str) -> None:
    """Attach a block to the agent, and to its sleeptime agents, which share its memory."""
    repo = BlockRepository(session, actor.organization_id)
    block = await repo.get(block_id)
    if block is None:
        raise NotFound(f"Block {block_id} not found")
    targets = [agent.id, *await _followers(session, actor, agent)]
    attached: dict[str, set[str]] = {t: set() for t in targets}
    for agent_id, other_id, other_label in await repo.labels_of_agents(targets):
        if other_id == block.id:
            attached[agent_id].add(other_id)
        elif other_label == block.label:
            raise Conflict(f"Agent {agent_id} already has a block labelled {block.label!r}")
    for target in targets:
        if block.id not in attached[target]:
            repo.attach(target, block.id)
    await session.flush()


async def detach(session: AsyncSession, actor: Actor, agent: Agent, block_id: str) -> None:
    repo = BlockRepository(session, actor.organization_id)
    if await repo.get(block_id) is None:
        raise NotFound(f"Block {block_id} not found")
    await repo.detach([agent.id, *await _followers(session, actor, agent)], block_id)
    await session.flush()
