"""The ``mcp_servers`` table, one organization's rows at a time."""

from collections.abc import Sequence

from sqlalchemy import Select, delete, select

from app.kit.repository import Repository
from app.mcp.models import MCPServer


class MCPServerRepository(Repository):
    def _scoped(self) -> Select[MCPServer]:
        return select(MCPServer).where(MCPServer.organization_id == self.organization_id)

    async def all(self) -> Sequence[MCPServer]:
        stmt = self._scoped().order_by(MCPServer.created_at, MCPServer.id)
        return (await self.session.scalars(stmt)).all()

    async def get(self, server_id: str, *, for_update: bool = False) -> MCPServer | None:
        stmt = self._scoped().where(MCPServer.id == server_id)
        found: MCPServer | None = await self.session.scalar(
            stmt.with_for_update() if for_update else stmt
        )
        return found

    async def get_many(self, server_ids: Sequence[str]) -> Sequence[MCPServer]:
        if not server_ids:
            return []
        stmt = self._scoped().where(MCPServer.id.in_(server_ids))
        return (await self.session.scalars(stmt.order_by(MCPServer.server_name))).all()

    async def get_by_name(self, name: str, *, for_update: bool = False) -> MCPServer | None:
        stmt = self._scoped().where(MCPServer.server_name == name)
        found: MCPServer | None = await self.session.scalar(
            stmt.with_for_update() if for_update else stmt
        )
        return found

    def add(self, server: MCPServer) -> None:
        self.session.add(server)

    async def delete(self, server_id: str) -> int:
        """Delete the row; its tools go with it (``tools.mcp_server_id`` cascades)."""
        stmt = delete(MCPServer).where(
            MCPServer.organization_id == self.organization_id, MCPServer.id == server_id
        )
        return await self.rowcount(stmt, {})
