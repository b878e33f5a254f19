from collections.abc import Sequence

from sqlalchemy import Select, bindparam, delete, func, inspect, select

from app.blocks.models import AgentBlock, Block, BlockHistory
from app.kit.direct import Direct
from app.kit.pagination import Order, PageParams, paginate
from app.kit.repository import Repository, detached, table_of

# Read on every step (an agent's memory): built once.
_FOR_AGENTS = (
    select(AgentBlock.agent_id, Block)
    .join(Block, Block.id == AgentBlock.block_id)
    .where(
        AgentBlock.agent_id.in_(bindparam("b_agents", expanding=True)),
        AgentBlock.organization_id == bindparam("b_org"),
    )
    .order_by(Block.created_at, Block.id)
)

_BLOCKS = table_of(Block)
# (attribute, column key) of every block column, in the order ``_OF_AGENT`` returns them.
_COLUMNS = [(prop.key, prop.columns[0].key) for prop in inspect(Block).column_attrs]
# One agent's memory, as a step reads it: plain rows, no ORM loading.
_OF_AGENT = Direct(
    select(*(_BLOCKS.c[key] for _, key in _COLUMNS))
    .join(AgentBlock, AgentBlock.block_id == _BLOCKS.c.id)
    .where(
        AgentBlock.agent_id == bindparam("b_agent"),
        AgentBlock.organization_id == bindparam("b_org"),
    )
    .order_by(_BLOCKS.c.created_at, _BLOCKS.c.id)
)


class BlockRepository(Repository):
    """Every block query, scoped to one organization."""

    def _scoped(self) -> Select[Block]:
        return select(Block).where(Block.organization_id == self.organization_id)

    async def get(self, block_id: str, *, for_update: bool = False) -> Block | None:
        stmt = self._scoped().where(Block.id == block_id)
        if for_update:
            stmt = stmt.with_for_update()
        return await self.session.scalar(stmt)

    async def get_many(self, block_ids: Sequence[str]) -> Sequence[Block]:
        if not block_ids:
            return []
        return (await self.session.scalars(self._scoped().where(Block.id.in_(block_ids)))).all()

    async def list_page(
        self,
        params: PageParams,
        *,
        label: str | None = None,
        label_search: str | None = None,
        value_search: str | None = None,
        description_search: str | None = None,
    ) -> Sequence[Block]:
        stmt = self._scoped()
        if label is not None:
            stmt = stmt.where(Block.label == label)
        for column, needle in (
            (Block.label, label_search),
            (Block.value, value_search),
            (Block.description, description_search),
        ):
            if needle:
                stmt = stmt.where(func.lower(column).contains(needle.lower(), autoescape=True))
        return await paginate(
            self.session, stmt, entity=Block, organization_id=self.organization_id, params=params
        )

    async def for_agents(self, agent_ids: Sequence[str]) -> Sequence[tuple[str, Block]]:
        """(agent id, block) pairs for the given agents, in creation order of the blocks."""
        if not agent_ids:
            return []
        params = {"b_agents": list(agent_ids), "b_org": self.organization_id}
        rows = await self.session.execute(_FOR_AGENTS, params)
        return [(a, b) for a, b in rows]

    async def of_agent(self, agent_id: str) -> list[Block]:
        """An agent's blocks in creation order, as objects outside the session: for reading
        (an edit loads the block it changes itself)."""
        params = {"b_agent": agent_id, "b_org": self.organization_id}
        rows = await self.direct_rows(_OF_AGENT, params)
        return [
            detached(Block, {a: v for (a, _), v in zip(_COLUMNS, r, strict=True)}) for r in rows
        ]

    async def list_for_agent(self, agent_id: str, params: PageParams) -> Sequence[Block]:
        stmt = self._scoped().join(AgentBlock, AgentBlock.block_id == Block.id)
        stmt = stmt.where(AgentBlock.agent_id == agent_id)
        return await paginate(
            self.session, stmt, entity=Block, organization_id=self.organization_id, params=params
        )

    async def get_by_label(
        self, agent_id: str, label: str, *, for_update: bool = False
    ) -> Block | None:
        stmt = self._scoped().join(AgentBlock, AgentBlock.block_id == Block.id)
        stmt = stmt.where(AgentBlock.agent_id == agent_id, Block.label == label)
        if for_update:
            stmt = stmt.with_for_update(of=Block)
        return await self.session.scalar(stmt)

    async def agent_ids_for_block(self, block_id: str) -> Sequence[str]:
        stmt = select(AgentBlock.agent_id).where(
            AgentBlock.block_id == block_id, AgentBlock.organization_id == self.organization_id
        )
        return (await self.session.scalars(stmt)).all()

    async def labels_of_agents(self, agent_ids: Sequence[str]) -> Sequence[tuple[str, str, str]]:
        """(agent id, block id, label) for every block attached to these agents."""
        rows = await self.session.execute(
            select(AgentBlock.agent_id, Block.id, Block.label)
            .join(Block, Block.id == AgentBlock.block_id)
            .where(AgentBlock.agent_id.in_(agent_ids))
        )
        return [(agent_id, block_id, label) for agent_id, block_id, label in rows]

    def add(self, block: Block) -> None:
        self.session.add(block)

    def attach(self, agent_id: str, block_id: str) -> None:
        self.session.add(
            AgentBlock(agent_id=agent_id, block_id=block_id, organization_id=self.organization_id)
        )

    async def detach(self, agent_ids: Sequence[str], block_id: str) -> None:
        await self.session.execute(
            delete(AgentBlock).where(
                AgentBlock.agent_id.in_(agent_ids), AgentBlock.block_id == block_id
            )
        )

    async def delete(self, block: Block) -> None:
        await self.session.delete(block)

    def add_history(self, entry: BlockHistory) -> None:
        self.session.add(entry)

    async def history(
        self, block_id: str, *, limit: int, order: Order, before: int | None, after: int | None
    ) -> Sequence[BlockHistory]:
        """Versions paged like every list: ``after``/``before`` are versions, and the page holds
        what follows (precedes) that version in the listing order."""
        stmt = select(BlockHistory).where(
            BlockHistory.block_id == block_id,
            BlockHistory.organization_id == self.organization_id,
        )
        column, descending = BlockHistory.version, order is Order.desc
        if after is not None:
            stmt = stmt.where(column < after if descending else column > after)
        if before is not None:
            stmt = stmt.where(column > before if descending else column < before)
        backwards = before is not None and after is None
        ascending = descending == backwards
        stmt = stmt.order_by(column.asc() if ascending else column.desc()).limit(limit)
        rows = (await self.session.scalars(stmt)).all()
        return list(reversed(rows)) if backwards else rows
