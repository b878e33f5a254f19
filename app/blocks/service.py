"""Blocks, and the one write path every change of a block goes through.

Whoever changes a block (the API now, memory tools during runs later) calls ``write``: it
enforces ``limit`` (never truncating), bumps ``version`` and records the change in
``block_history`` with its source.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.deps import Actor
from app.blocks.models import Block, BlockHistory
from app.blocks.repository import BlockRepository
from app.blocks.schemas import BlockCreate, BlockUpdate
from app.kit.db import utcnow
from app.kit.errors import BlockLimitExceeded, Conflict, NotFound
from app.kit.ids import Prefix, new_id
from app.kit.pagination import Order, PageParams

DEFAULT_DESCRIPTIONS = {
    "human": "What the agent knows about the person it is talking with.",
    "persona": "The agent's own persona: who it is and how it behaves.",
}


@dataclass(frozen=True, slots=True)
class ChangeSource:
    """Who made a change, as recorded in the block's history."""

    actor_type: str = "api"
    agent_id: str | None = None
    run_id: str | None = None


API_CHANGE = ChangeSource()


def check_limit(label: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise BlockLimitExceeded(
            f"Edit failed: Exceeds {limit} character limit (requested {len(value)}) "
            f"for block {label!r}",
            label=label,
            limit=limit,
            requested=len(value),
        )


def _record(repo: BlockRepository, block: Block, source: ChangeSource) -> None:
    repo.add_history(
        BlockHistory(
            block_id=block.id,
            organization_id=block.organization_id,
            version=block.version,
            label=block.label,
            value=block.value,
            actor_type=source.actor_type,
            agent_id=source.agent_id,
            run_id=source.run_id,
            created_at=utcnow(),
        )
    )


def new_block(
    repo: BlockRepository, data: BlockCreate, *, default_limit: int, default_description: bool
) -> Block:
    """Validate and add a block (not yet flushed); ``default_description`` fills human/persona."""
    limit = data.limit or default_limit
    check_limit(data.label, data.value, limit)
    description = data.description
    if description is None and default_description:
        description = DEFAULT_DESCRIPTIONS.get(data.label)
    now = utcnow()
    block = Block(
        id=new_id(Prefix.block),
        organization_id=repo.organization_id,
        label=data.label,
        value=data.value,
        limit=limit,
        description=description,
        read_only=data.read_only,
        metadata_=data.metadata or {},
        tags=data.tags or [],
        version=1,
        created_at=now,
        updated_at=now,
    )
    repo.add(block)
    _record(repo, block, API_CHANGE)
    return block


async def create(
    session: AsyncSession, actor: Actor, data: BlockCreate, *, default_limit: int
) -> Block:
    repo = BlockRepository(session, actor.organization_id)
    block = new_block(repo, data, default_limit=default_limit, default_description=False)
    await session.flush()
    return block


async def get(session: AsyncSession, actor: Actor, block_id: str) -> Block:
    block = await BlockRepository(session, actor.organization_id).get(block_id)
    if block is None:
        raise NotFound(f"Block {block_id} not found")
    return block


async def list_blocks(
    session: AsyncSession,
    actor: Actor,
    params: PageParams,
    *,
    label: str | None,
    label_search: str | None,
    value_search: str | None,
    description_search: str | None,
) -> Sequence[Block]:
    return await BlockRepository(session, actor.organization_id).list_page(
        params,
        label=label,
        label_search=label_search,
        value_search=value_search,
        description_search=description_search,
    )


async def _check_label_free(repo: BlockRepository, block: Block, label: str) -> None:
    agent_ids = await repo.agent_ids_for_block(block.id)
    if not agent_ids:
        return
    for agent_id, other_id, other_label in await repo.labels_of_agents(agent_ids):
        if other_label == label and other_id != block.id:
            raise Conflict(f"Agent {agent_id} already has a block labelled {label!r}")


async def write(
    repo: BlockRepository, block: Block, data: BlockUpdate, source: ChangeSource
) -> Block:
    """Apply a change to a block loaded ``for_update``: the single write path."""
    changes = data.model_dump(exclude_unset=True)
    new_label = changes.get("label") or block.label
    new_value = block.value if data.value is None else data.value
    new_limit = data.limit or block.limit
    check_limit(new_label, new_value, new_limit)
    if new_label != block.label:
        await _check_label_free(repo, block, new_label)
    value_changed = new_value != block.value or new_label != block.label
    block.label, block.value, block.limit = new_label, new_value, new_limit
    if "description" in changes:
        block.description = data.description
    if data.read_only is not None:
        block.read_only = data.read_only
    if data.metadata is not None:
        block.metadata_ = data.metadata
    if data.tags is not None:
        block.tags = data.tags
    block.updated_at = utcnow()
    if value_changed:
        block.version += 1
        _record(repo, block, source)
    await repo.session.flush()
    return block


async def update(session: AsyncSession, actor: Actor, block_id: str, data: BlockUpdate) -> Block:
    repo = BlockRepository(session, actor.organization_id)
    block = await repo.get(block_id, for_update=True)
    if block is None:
        raise NotFound(f"Block {block_id} not found")
    return await write(repo, block, data, API_CHANGE)


async def delete(session: AsyncSession, actor: Actor, block_id: str) -> None:
    repo = BlockRepository(session, actor.organization_id)
    block = await repo.get(block_id, for_update=True)
    if block is None:
        raise NotFound(f"Block {block_id} not found")
    await repo.delete(block)
    await session.flush()


async def history(
    session: AsyncSession,
    actor: Actor,
    block_id: str,
    *,
    limit: int,
    order: Order,
    before: int | None,
    after: int | None,
) -> Sequence[BlockHistory]:
    repo = BlockRepository(session, actor.organization_id)
    if await repo.get(block_id) is None:
        raise NotFound(f"Block {block_id} not found")
    return await repo.history(block_id, limit=limit, order=order, before=before, after=after)
