from sqlalchemy import String, cast, func, select

from app.agents.models import AgentTag
from app.blocks.models import Block
from app.kit.repository import Repository


class TagRepository(Repository):
    """The tags an organization has put on its agents and blocks."""

    async def all(self, contains: str | None) -> set[str]:
        """Every distinct tag, optionally only those containing ``contains`` (any case)."""
        agent_stmt = (
            select(AgentTag.tag).where(AgentTag.organization_id == self.organization_id).distinct()
        )
        if contains:
            agent_stmt = agent_stmt.where(
                func.lower(AgentTag.tag).contains(contains.lower(), autoescape=True)
            )
        tags = set((await self.session.scalars(agent_stmt)).all())
        # Block tags are a JSON list on the row: read the tagged blocks' lists.
        block_stmt = select(Block.tags).where(
            Block.organization_id == self.organization_id, cast(Block.tags, String) != "[]"
        )
        needle = (contains or "").lower()
        for block_tags in (await self.session.scalars(block_stmt)).all():
            tags.update(t for t in block_tags or () if needle in t.lower())
        return tags
