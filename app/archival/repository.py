"""Every archive and passage query, scoped to one organization."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, select, update

from app.archival import fulltext
from app.archival.models import Archive, ArchiveAgent, Passage, PassageTag
from app.groups.models import Group
from app.kit.pagination import PageParams, paginate
from app.kit.repository import Repository
from app.runs.models import Run


@dataclass(frozen=True, slots=True)
class PassageFilter:
    """Which passages a search or a listing looks at."""

    archive_ids: Sequence[str]
    tags: Sequence[str] = ()
    match_all: bool = False
    start: datetime | None = None
    end: datetime | None = None


class ArchiveRepository(Repository):
    def _scoped(self) -> Select[Archive]:
        return select(Archive).where(Archive.organization_id == self.organization_id)

    async def get(self, archive_id: str) -> Archive | None:
        return await self.session.scalar(self._scoped().where(Archive.id == archive_id))

    async def list_page(
        self, params: PageParams, *, name: str | None, agent_id: str | None
    ) -> Sequence[Archive]:
        stmt = self._scoped()
        if name is not None:
            stmt = stmt.where(Archive.name == name)
        if agent_id is not None:
            linked = select(ArchiveAgent.archive_id).where(ArchiveAgent.agent_id == agent_id)
            stmt = stmt.where(Archive.id.in_(linked))
        return await paginate(
            self.session, stmt, entity=Archive, organization_id=self.organization_id, params=params
        )

    async def add(self, archive: Archive) -> None:
        self.session.add(archive)
        await self.session.flush()

    async def delete(self, archive: Archive) -> None:
        await self.session.delete(archive)
        await self.session.flush()

    async def links(self, agent_id: str) -> Sequence[ArchiveAgent]:
        stmt = select(ArchiveAgent).where(
            ArchiveAgent.agent_id == agent_id,
            ArchiveAgent.organization_id == self.organization_id,
        )
        return (await self.session.scalars(stmt.order_by(ArchiveAgent.created_at))).all()

    async def agent_ids(self, archive_id: str, limit: int) -> list[str]:
        stmt = (
            select(ArchiveAgent.agent_id)
            .where(
                ArchiveAgent.archive_id == archive_id,
                ArchiveAgent.organization_id == self.organization_id,
            )
            .order_by(ArchiveAgent.created_at, ArchiveAgent.agent_id)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())

    async def link(self, archive_id: str, agent_id: str) -> ArchiveAgent | None:
        stmt = select(ArchiveAgent).where(
            ArchiveAgent.archive_id == archive_id,
            ArchiveAgent.agent_id == agent_id,
            ArchiveAgent.organization_id == self.organization_id,
        )
        return await self.session.scalar(stmt)

    async def attach(self, archive_id: str, agent_id: str, *, is_owner: bool = False) -> None:
        if await self.link(archive_id, agent_id) is None:
            self.session.add(
                ArchiveAgent(
                    archive_id=archive_id,
                    agent_id=agent_id,
                    organization_id=self.organization_id,
                    is_owner=is_owner,
                )
            )
            await self.session.flush()

    async def detach(self, archive_id: str, agent_id: str) -> None:
        await self.session.execute(
            delete(ArchiveAgent).where(
                ArchiveAgent.archive_id == archive_id,
                ArchiveAgent.agent_id == agent_id,
                ArchiveAgent.organization_id == self.organization_id,
            )
        )

    async def orphaned_by(self, agent_ids: Sequence[str]) -> list[str]:
        """The archives one of ``agent_ids`` owns that no agent outside them reads."""
        owned = select(ArchiveAgent.archive_id).where(
            ArchiveAgent.organization_id == self.organization_id,
            ArchiveAgent.agent_id.in_(agent_ids),
            ArchiveAgent.is_owner.is_(True),
        )
        shared = select(ArchiveAgent.archive_id).where(
            ArchiveAgent.archive_id.in_(owned), ArchiveAgent.agent_id.not_in(agent_ids)
        )
        stmt = self._scoped().with_only_columns(Archive.id)
        stmt = stmt.where(Archive.id.in_(owned), Archive.id.not_in(shared))
        return list((await self.session.scalars(stmt)).all())

    async def delete_ids(self, archive_ids: Sequence[str]) -> None:
        """Delete archives (their passages and links go with them)."""
        if archive_ids:
            await self.session.execute(
                delete(Archive).where(
                    Archive.id.in_(archive_ids), Archive.organization_id == self.organization_id
                )
            )

    async def storage_bytes(self) -> int:
        """The bytes the organization's stored vectors take (4 a value)."""
        stmt = select(func.coalesce(func.sum(Passage.embedding_dim), 0)).where(
            Passage.organization_id == self.organization_id, Passage.embedding.is_not(None)
        )
        return 4 * int(await self.session.scalar(stmt) or 0)

    async def filing_agent(self, agent_id: str, run_id: str | None) -> str:
        """Whose archive an insert by ``agent_id`` in run ``run_id`` goes to: the primary's,
        for a run of a sleeptime group with ``sleeptime_archival_insert`` on; else its own."""
        if run_id is None:
            return agent_id
        stmt = (
            select(Group.manager_agent_id)
            .join(Run, Run.group_id == Group.id)
            .where(
                Run.id == run_id,
                Run.organization_id == self.organization_id,
                Group.sleeptime_archival_insert.is_(True),
            )
        )
        manager = await self.session.scalar(stmt)
        return manager or agent_id


class PassageRepository(Repository):
    def _scoped(self, where: PassageFilter) -> Select[Passage]:
        stmt = select(Passage).where(
            Passage.organization_id == self.organization_id,
            Passage.archive_id.in_(where.archive_ids),
        )
        filtered: Select[Passage] = _filtered(stmt, where)
        return filtered

    async def add(self, passages: Sequence[Passage]) -> None:
        """Insert passages, each marked with its archive's version this write raises to."""
        versions = await self._touch({p.archive_id for p in passages})
        for passage in passages:
            passage.written_version = versions.get(passage.archive_id, 0)
        await self.insert_rows(Passage, passages)
        tags = [
            PassageTag(
                passage_id=p.id, tag=tag, archive_id=p.archive_id, organization_id=p.organization_id
            )
            for p in passages
            for tag in dict.fromkeys(p.tags)
        ]
        await self.insert_rows(PassageTag, tags)

    async def _touch(self, archive_ids: set[str], *, deleted: int = 0) -> dict[str, int]:
        """Raise the archives' ``passages_version`` (and ``passages_deleted`` by ``deleted``):
        cached vectors of theirs are behind. Answers each archive's new version. On
        PostgreSQL the row stays locked to the commit, so versions follow commit order."""
        if not archive_ids:
            return {}
        stmt = (
            update(Archive)
            .where(Archive.id.in_(archive_ids), Archive.organization_id == self.organization_id)
            .values(
                passages_version=Archive.passages_version + 1,
                passages_deleted=Archive.passages_deleted + deleted,
            )
            .returning(Archive.id, Archive.passages_version)
        )
        rows = (await self.session.execute(stmt)).all()
        return {row[0]: row[1] for row in rows}

    async def state(self, archive_id: str) -> tuple[int, int] | None:
        """The archive's ``passages_version`` and ``passages_deleted``, read together."""
        stmt = select(Archive.passages_version, Archive.passages_deleted).where(
            Archive.id == archive_id, Archive.organization_id == self.organization_id
        )
        row = (await self.session.execute(stmt)).first()
        return (row[0], row[1]) if row is not None else None

    async def get(self, passage_id: str, archive_ids: Sequence[str]) -> Passage | None:
        stmt = self._scoped(PassageFilter(archive_ids)).where(Passage.id == passage_id)
        return await self.session.scalar(stmt)

    async def get_many(self, passage_ids: Sequence[str]) -> dict[str, Passage]:
        stmt = select(Passage).where(
            Passage.organization_id == self.organization_id, Passage.id.in_(passage_ids)
        )
        return {p.id: p for p in (await self.session.scalars(stmt)).all()}

    async def all_in(self, archive_id: str) -> list[Passage]:
        stmt = self._scoped(PassageFilter([archive_id])).order_by(Passage.created_at, Passage.id)
        return list((await self.session.scalars(stmt)).all())

    async def delete(self, passage: Passage) -> None:
        await self.session.execute(
            delete(Passage).where(
                Passage.id == passage.id, Passage.organization_id == self.organization_id
            )
        )
        await self._touch({passage.archive_id}, deleted=1)

    async def list_page(
        self, where: PassageFilter, params: PageParams, *, search: str | None
    ) -> Sequence[Passage]:
        stmt = self._scoped(where)
        if search:
            lowered = func.lower(Passage.text, type_=Passage.text.type)
            stmt = stmt.where(lowered.contains(search.lower(), autoescape=True))
        return await paginate(
            self.session, stmt, entity=Passage, organization_id=self.organization_id, params=params
        )

    async def fulltext_ids(self, where: PassageFilter, words: list[str], limit: int) -> list[str]:
        """Ids of passages matching any of ``words``, best first."""
        stmt = _filtered(
            select(Passage.id).where(
                Passage.organization_id == self.organization_id,
                Passage.archive_id.in_(where.archive_ids),
            ),
            where,
        )
        dialect = self.session.get_bind().dialect.name
        ranked = fulltext.ranked(stmt, dialect, words).limit(limit)
        return list((await self.session.scalars(ranked)).all())

    def _embedded(self, archive_id: str, model: str, dim: int) -> Select[Any]:
        return select(Passage.id).where(
            Passage.organization_id == self.organization_id,
            Passage.archive_id == archive_id,
            Passage.embedding_model == model,
            Passage.embedding_dim == dim,
            Passage.embedding.is_not(None),
        )

    async def vectors_written(
        self, archive_id: str, model: str, dim: int, after: int, upto: int
    ) -> list[tuple[str, bytes]]:
        """The vectors ``model`` made (``dim`` values) of the archive's passages written by
        versions ``after`` (excluded) to ``upto``."""
        stmt = (
            self._embedded(archive_id, model, dim)
            .add_columns(Passage.embedding)
            .where(Passage.written_version > after, Passage.written_version <= upto)
        )
        rows = (await self.session.execute(stmt)).all()
        return [(row[0], row[1]) for row in rows if row[1] is not None]

    async def embedded_ids(self, archive_id: str, model: str, dim: int) -> set[str]:
        """Ids of the archive's passages with a vector ``model`` made (no vectors read)."""
        return set((await self.session.scalars(self._embedded(archive_id, model, dim))).all())

    async def matching_ids(self, where: PassageFilter) -> set[str]:
        """Ids of the passages ``where`` selects (its tags and dates), no vectors read."""
        stmt = _filtered(
            select(Passage.id).where(
                Passage.organization_id == self.organization_id,
                Passage.archive_id.in_(where.archive_ids),
            ),
            where,
        )
        return set((await self.session.scalars(stmt)).all())

    async def recent_ids(self, where: PassageFilter, limit: int) -> list[str]:
        stmt = _filtered(
            select(Passage.id).where(
                Passage.organization_id == self.organization_id,
                Passage.archive_id.in_(where.archive_ids),
            ),
            where,
        )
        stmt = stmt.order_by(Passage.created_at.desc(), Passage.id.desc()).limit(limit)
        return list((await self.session.scalars(stmt)).all())


def _filtered(stmt: Select[Any], where: PassageFilter) -> Select[Any]:
    """``stmt`` over ``passages`` narrowed by date and tags (``any`` or ``all`` of them)."""
    if where.start is not None:
        stmt = stmt.where(Passage.created_at >= where.start)
    if where.end is not None:
        stmt = stmt.where(Passage.created_at <= where.end)
    tags = list(dict.fromkeys(where.tags))
    if tags:
        tagged = select(PassageTag.passage_id).where(
            PassageTag.organization_id == Passage.organization_id,
            PassageTag.archive_id.in_(where.archive_ids),
            PassageTag.tag.in_(tags),
        )
        if where.match_all:
            tagged = tagged.group_by(PassageTag.passage_id).having(func.count() == len(tags))
        stmt = stmt.where(Passage.id.in_(tagged))
    return stmt
